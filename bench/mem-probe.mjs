// Preloaded into `ferry serve` by bench/sftp-memory.ts (`node --import ./bench/mem-probe.mjs`):
// every 100 ms one JSON line of process.memoryUsage() and the process buffer budget (held, peak)
// to the file named by FERRY_MEM_PROBE. The budget module is the same instance Ferry uses (same URL).
import { appendFileSync } from 'node:fs';

const out = process.env.FERRY_MEM_PROBE;
if (out) {
  const budgetUrl = new URL('../dist/s3/buffer-budget.js', import.meta.url).href;
  const { processBudget } = await import(budgetUrl);
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
    };
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  }, 100);
  timer.unref();
}
