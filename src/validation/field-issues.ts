// Turns zod issues into `{ name, message, errorType }` entries, the shape the
// events protocol's badRequest answers and the parked-key errors both carry.
import type { z } from 'zod';

export interface FieldIssue {
  /** Dotted path of the failing field, e.g. `email` or `items.0.amount`. */
  name: string;
  message: string;
  errorType: string;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix?: string): FieldIssue[] {
  return issues.map((issue) => {
    const path = [...(prefix === undefined ? [] : [prefix]), ...issue.path.map(String)];
    return { name: path.length === 0 ? '(root)' : path.join('.'), message: issue.message, errorType: issue.code };
  });
}
