// Preloaded into a hub under the memory benchmark (with --expose-gc): every
// 5 s it runs a full garbage collection and prints the heap still in use and
// the RSS, so the drift measured is what is really kept, not V8's lazy growth.
const gc = globalThis.gc;
if (typeof gc === 'function') {
  setInterval(() => {
    gc();
    const { heapUsed, rss } = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ gcProbe: { heapUsedMiB: heapUsed / 2 ** 20, rssMiB: rss / 2 ** 20 } })}\n`);
  }, 5000).unref();
}
