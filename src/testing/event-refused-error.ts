// What `hub.send` throws when the hub refuses an event, as `POST /events`
// would have answered it: the error type (`badRequest`, `eventNotFound`, …),
// its code and parameters (for a schema failure, the fields and why).
import { ConfluoError } from '../errors/index.js';

export class EventRefusedError extends ConfluoError {
  constructor(
    readonly eventName: string,
    readonly type: string,
    code: string,
    readonly parameters: Record<string, unknown>,
  ) {
    super(code, `${eventName} was refused (${type}, ${code}): ${JSON.stringify(parameters)}`, { details: { type, parameters } });
  }
}
