// Thrown by a handler to answer `<name>:<type>` with `{ code, parameters }`.
import { ConfluoError } from '../errors/index.js';
import type { EventErrorType } from './envelope.js';

export class EventError extends ConfluoError {
  readonly type: EventErrorType;
  readonly parameters: Record<string, unknown>;

  constructor(type: EventErrorType, code: string, parameters: Record<string, unknown> = {}, options: { cause?: unknown } = {}) {
    super(code, `${type}: ${code}`, options);
    this.type = type;
    this.parameters = parameters;
  }
}
