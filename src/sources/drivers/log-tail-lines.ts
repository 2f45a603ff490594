// Reading a log file line by line without loading it: positioned reads of a
// fixed-size chunk, split on the newline byte (0x0A), so a multi-byte UTF-8
// character cut by a chunk boundary is whole again before its line is decoded.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface RawLine {
  /** Byte offset of the line's first byte. */
  offset: number;
  /** The line's bytes without the newline, at most `maxLineBytes` of them. */
  bytes: Buffer;
  /** The line's full length in bytes, without the newline (more than `bytes.length` for an over-long line). */
  length: number;
  /** Offset just after the newline (or after the last byte, for an incomplete line). */
  end: number;
  /** False for the last line of the file when no newline ends it yet. */
  complete: boolean;
}

export interface ReadLinesOptions {
  chunkBytes: number;
  maxLineBytes: number;
  signal: AbortSignal;
}

/**
 * The lines from `from` to the end of the file, the last one possibly incomplete.
 * A yielded `bytes` may share the read buffer: use it before asking for the next line.
 */
export async function* readLines(handle: FileHandle, from: number, options: ReadLinesOptions): AsyncGenerator<RawLine> {
  const chunk = Buffer.allocUnsafe(options.chunkBytes);
  let position = from;
  let lineStart = from;
  // The current line's bytes from earlier chunks (copied: the chunk buffer is reused), capped.
  let parts: Buffer[] = [];
  let kept = 0;
  let length = 0;
  const keep = (piece: Buffer) => {
    const room = options.maxLineBytes - kept;
    if (room <= 0 || piece.length === 0) return;
    const part = Buffer.from(piece.subarray(0, room));
    parts.push(part);
    kept += part.length;
  };
  for (;;) {
    options.signal.throwIfAborted();
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    const view = chunk.subarray(0, bytesRead);
    let at = 0;
    while (at < bytesRead) {
      const newline = view.indexOf(0x0a, at);
      if (newline === -1) {
        keep(view.subarray(at));
        length += bytesRead - at;
        break;
      }
      const piece = view.subarray(at, newline);
      let bytes: Buffer;
      if (parts.length === 0) {
        bytes = piece.subarray(0, options.maxLineBytes);
      } else {
        keep(piece);
        bytes = Buffer.concat(parts);
      }
      const end = position + newline + 1;
      yield { offset: lineStart, bytes, length: length + piece.length, end, complete: true };
      lineStart = end;
      parts = [];
      kept = 0;
      length = 0;
      at = newline + 1;
    }
    position += bytesRead;
  }
  if (lineStart < position) yield { offset: lineStart, bytes: Buffer.concat(parts), length, end: position, complete: false };
}

/** Bytes of the first line that make up a file's fingerprint. */
export const HEAD_BYTES = 1024;

/**
 * A file's fingerprint: a hash of its first line (up to HEAD_BYTES). The first
 * line never changes while a log is only appended to, so a different one means
 * a different file: truncated and rewritten, or a new file on a reused inode.
 */
export function headOf(bytes: Buffer): string {
  const newline = bytes.indexOf(0x0a);
  const first = bytes.subarray(0, Math.min(newline === -1 ? bytes.length : newline, HEAD_BYTES));
  return createHash('sha256').update(first).digest('base64url').slice(0, 16);
}

/** The file's fingerprint, or null while its first line is still incomplete (and shorter than HEAD_BYTES). */
export async function readHead(handle: FileHandle): Promise<string | null> {
  const buffer = Buffer.alloc(HEAD_BYTES);
  const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
  const bytes = buffer.subarray(0, bytesRead);
  if (bytes.indexOf(0x0a) === -1 && bytesRead < HEAD_BYTES) return null;
  return headOf(bytes);
}
