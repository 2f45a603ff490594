// The events protocol on its own: usable without a hub, to serve or call any
// GuiaBolso-compatible events endpoint.
export { requestEnvelopeSchema, responseEnvelope, ERROR_TYPES, SUCCESS_TYPES, type ErrorPayload, type EventErrorType, type RequestEnvelope, type ResponseEnvelope } from './envelope.js';
export { EventError } from './event-error.js';
export { HandlerRegistry, redirect, respond, type EventHandler, type HandlerRequest, type HandlerResult } from './registry.js';
export { dispatch, dispatchMany, type DispatchOptions, type Grant } from './dispatch.js';
export { eventsRoutes, type EventsRequest, type EventsRouteOptions } from './http.js';
export { classify, createEventClient, type EventClient, type EventClientOptions, type SendOptions, type SendResult } from './client.js';
