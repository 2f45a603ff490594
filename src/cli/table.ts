// Tables for people: columns padded to their widest cell, and colour only
// when writing to a terminal that wants it (NO_COLOR unset).
import { styleText } from 'node:util';

export type Colour = 'green' | 'yellow' | 'red' | 'gray';

/** Colours `text` when stdout is a terminal; plain otherwise (pipes, files, tests). */
export function paint(text: string, colour: Colour | undefined): string {
  if (!colour || !process.stdout.isTTY || process.env.NO_COLOR) return text;
  return styleText(colour, text);
}

/** A cell: its text and, optionally, its colour. */
export type Cell = string | { text: string; colour?: Colour | undefined };

const textOf = (cell: Cell) => (typeof cell === 'string' ? cell : cell.text);

/** Rows under a header, two spaces between columns. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => textOf(r[i] ?? '').length)));
  const line = (cells: readonly Cell[]) =>
    cells
      .map((cell, i) => {
        const text = textOf(cell);
        const padded = i === cells.length - 1 ? text : text.padEnd(widths[i] ?? 0);
        return typeof cell === 'string' ? padded : paint(padded, cell.colour);
      })
      .join('  ')
      .trimEnd();
  return [paint(line(header), 'gray'), ...rows.map(line)].join('\n');
}
