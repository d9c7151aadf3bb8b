// Preloaded into `ferry serve` by bench/sftp-memory.ts (`node --import ./bench/mem-probe.mjs`):
// every 100 ms one JSON line of process.memoryUsage(), the process buffer budget (held, peak, kept
// buffers, fresh and dropped part buffers) and the GCs run so far (minor: scavenges; major:
// mark-compacts) to the file named by FERRY_MEM_PROBE. The budget module is the same instance
// Ferry uses: the dist/ beside the bin/ferry.js being run (process.argv[1]), so a probe serves
// any build.
// FERRY_MEM_PROBE_GC_MS=n (with node's --expose-gc): a full GC every n ms — a probe only, never
// for production: it tells garbage not yet collected from memory still in use.
import { appendFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const out = process.env.FERRY_MEM_PROBE;
if (out) {
  const cli = process.argv[1] ? pathToFileURL(process.argv[1]) : new URL('../bin/ferry.js', import.meta.url);
  const budgetUrl = new URL('../dist/s3/buffer-budget.js', cli).href;
  const { processBudget } = await import(budgetUrl);
  // Parts spilled to disk while a reservation waited (builds from session 7 on; 0 before).
  const spills = await import(new URL('../dist/storage/s3/part-spill.js', cli).href).then(
    (m) => m.partSpills,
    () => ({ spilled: 0 }),
  );
  // Socket reads parsed in place / from a copy / into a new buffer (builds from session 9 on).
  const reads = await import(new URL('../dist/protocols/sftp/socket-reads.js', cli).href).then(
    (m) => m.socketReads,
    () => ({ inPlace: 0, copied: 0, fresh: 0 }),
  );
  const gcs = { minor: 0, major: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail?.kind ?? e.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    }
  }).observe({ entryTypes: ['gc'] });
  const every = Number(process.env.FERRY_MEM_PROBE_GC_MS);
  if (every > 0 && typeof globalThis.gc === 'function') setInterval(() => globalThis.gc(), every).unref();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      budgetHeld: processBudget.held,
      budgetPeak: processBudget.peak,
      budgetPooled: processBudget.pooled ?? 0,
      chargedPeak: processBudget.chargedPeak ?? 0,
      fresh: processBudget.freshBuffers ?? 0,
      dropped: processBudget.droppedBuffers ?? 0,
      spilled: spills.spilled,
      readsInPlace: reads.inPlace,
      readsCopied: reads.copied,
      readsFresh: reads.fresh,
      minorGcs: gcs.minor,
      majorGcs: gcs.major,
    };
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  }, 100);
  timer.unref();
}
