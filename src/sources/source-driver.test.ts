// The custom driver kind runs the shared suite too: a function over an
// in-memory list, paging by index.
import { describeSourceDriverContract } from './source-driver.contract.js';
import { customDriver, type SourceDriver } from './source-driver.js';
import type { Json } from '../store/types.js';

describeSourceDriverContract('custom', async () => {
  const items: Array<{ id: string }> = [];
  let next = 0;
  const pageSize = 4;
  const make = (): SourceDriver<unknown, Json> =>
    customDriver<{ id: string }, { at: number }>(async (checkpoint) => {
      const from = checkpoint?.at ?? 0;
      const page = items.slice(from, from + pageSize);
      return { items: page, checkpoint: { at: from + page.length }, more: from + page.length < items.length };
    }) as SourceDriver<unknown, Json>;
  return {
    driver: make(),
    pageSize,
    append: async (count) => Array.from({ length: count }, () => {
      next += 1;
      items.push({ id: `i${next}` });
      return `i${next}`;
    }),
    idOf: (item) => (item as { id: string }).id,
    reopen: async () => make(),
    close: async () => undefined,
  };
});
