// A flow that cannot work as written (duplicate event types, unknown parts, …);
// raised when the flow is defined, before any event is accepted.
import { ConfluoError } from './confluo-error.js';

export class FlowDefinitionError extends ConfluoError {
  constructor(message: string) {
    super('FLOW_DEFINITION_INVALID', message);
  }
}
