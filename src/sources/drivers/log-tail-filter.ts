// Which log lines matter to a log-tail source: the filter from its options,
// checked and compiled once. Text filters decide on the raw line, before any
// JSON parsing, so a source that wants 1 line in 1000 parses only that one.
import { isDeepStrictEqual } from 'node:util';
import { ConfigError } from '../../errors/index.js';
import type { Json } from '../../store/types.js';

export type LogLineFilter =
  /** Lines holding this text. */
  | { contains: string }
  /** Lines matching this pattern (a `g` or `y` flag is dropped: it would make `test` stateful). */
  | { regex: RegExp | string }
  /**
   * JSON lines whose field (a dotted path like `meta.type`) equals the value, or any of them when
   * `equals` is an array (to match an array value, wrap it: `[[1, 2]]`). `jsonl` format only.
   */
  | { field: string; equals: Json | Json[] }
  /** Your own test; `parsed` is the line's JSON value in `jsonl` format (undefined when the line is not JSON). */
  | ((line: string, parsed?: unknown) => boolean);

export type CompiledFilter =
  | { on: 'text'; test: (line: string) => boolean }
  | { on: 'field'; test: (value: Record<string, unknown>) => boolean }
  | { on: 'function'; test: (line: string, parsed?: unknown) => boolean };

export function compileFilter(filter: LogLineFilter, format: 'jsonl' | 'text', where: string): CompiledFilter {
  if (typeof filter === 'function') return { on: 'function', test: filter };
  const keys = typeof filter === 'object' && filter !== null ? Object.keys(filter) : [];
  const kinds = keys.filter((key) => key === 'contains' || key === 'regex' || key === 'field');
  if (kinds.length !== 1) {
    throw new ConfigError(`${where}: filter must be a function or an object with exactly one of contains, regex or field`);
  }
  if ('contains' in filter) {
    const text = filter.contains;
    if (typeof text !== 'string' || text === '') throw new ConfigError(`${where}: filter.contains must be a non-empty string`);
    return { on: 'text', test: (line) => line.includes(text) };
  }
  if ('regex' in filter) return { on: 'text', test: compileRegex(filter.regex, where) };
  if (format !== 'jsonl') throw new ConfigError(`${where}: filter.field needs format 'jsonl' (text lines have no fields)`);
  const path = typeof filter.field === 'string' ? filter.field.split('.') : [];
  if (path.length === 0 || path.some((part) => part === '')) {
    throw new ConfigError(`${where}: filter.field must be a field name or a dotted path like "meta.type"`);
  }
  if (!('equals' in filter) || filter.equals === undefined) throw new ConfigError(`${where}: filter.field needs equals (a JSON value, or an array of them)`);
  const wanted: Json[] = Array.isArray(filter.equals) ? filter.equals : [filter.equals];
  return {
    on: 'field',
    test: (value) => {
      const found = lookup(value, path);
      return found.present && wanted.some((candidate) => isDeepStrictEqual(found.value, candidate));
    },
  };
}

function compileRegex(regex: RegExp | string, where: string): (line: string) => boolean {
  let pattern: RegExp;
  if (regex instanceof RegExp) {
    pattern = new RegExp(regex.source, regex.flags.replace(/[gy]/g, ''));
  } else if (typeof regex === 'string' && regex !== '') {
    try {
      pattern = new RegExp(regex);
    } catch (error) {
      throw new ConfigError(`${where}: filter.regex ${JSON.stringify(regex)} is not a valid regular expression`, { cause: error });
    }
  } else {
    throw new ConfigError(`${where}: filter.regex must be a RegExp or a non-empty pattern string`);
  }
  return (line) => pattern.test(line);
}

/** Own properties only: a path like `constructor.name` must not reach into the prototype. */
function lookup(value: unknown, path: string[]): { present: boolean; value?: unknown } {
  let current = value;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) return { present: false };
    current = (current as Record<string, unknown>)[part];
  }
  return { present: true, value: current };
}
