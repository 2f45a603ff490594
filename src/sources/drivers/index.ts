// The built-in source drivers; each implements the SourceDriver port (../source-driver.ts).
export { httpPoll, HttpPollError, type HttpPollCheckpoint, type HttpPollOptions } from './http-poll.js';
export { logLineId, logTail, type LogFile, type LogLine, type LogLineFilter, type LogTailCheckpoint, type LogTailOptions } from './log-tail.js';
export { sqlPoll, SqlPollError, type SqlPollCheckpoint, type SqlPollOptions } from './sql-poll.js';
