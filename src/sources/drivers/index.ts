// The built-in source drivers; each implements the SourceDriver port (../source-driver.ts).
export { httpPoll, HttpPollError, type HttpPollCheckpoint, type HttpPollOptions } from './http-poll.js';
