import { describe, expect, it } from 'vitest';
import { clock, Progress } from '../../src/cli/progress.js';

/** A fake terminal that records what was written. */
function tty() {
  const writes: string[] = [];
  return {
    writes,
    stream: { isTTY: true, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream,
  };
}

describe('progress', () => {
  it('draws bytes, percent, rate and ETA on a terminal, at most once per interval', () => {
    let now = 0;
    const t = tty();
    const p = new Progress({ mode: 'bar', bar: t.stream, interval: 200, now: () => now });
    p.expect(100 * 1024 * 1024);
    now = 1000;
    p.add(25 * 1024 * 1024); // 25 MiB in 1 s
    now = 1100;
    p.add(1024); // within the interval: no redraw
    expect(t.writes).toHaveLength(1);
    expect(t.writes[0]).toContain('25%');
    expect(t.writes[0]).toContain('25 MiB / 100 MiB');
    expect(t.writes[0]).toContain('25 MiB/s');
    expect(t.writes[0]).toContain('ETA 0:03');
    p.finish();
    expect(t.writes.at(-1)).toBe('\n');
  });

  it('emits JSON progress and done events for scripts', () => {
    let now = 0;
    const lines: string[] = [];
    const p = new Progress({ mode: 'json', out: (l) => lines.push(l), interval: 1000, now: () => now });
    p.expect(2000);
    now = 1000;
    p.add(1000);
    p.fileDone();
    now = 2000;
    p.finish();
    expect(JSON.parse(lines[0]!)).toMatchObject({
      event: 'progress',
      bytes: 1000,
      total: 2000,
      rate: 1000,
      eta: 1,
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ event: 'done', bytes: 1000, files: 1, seconds: 2 });
  });

  it('is silent when not a terminal and not asked for JSON', () => {
    const notTty = { isTTY: false } as NodeJS.WriteStream;
    expect(Progress.modeFor(false, true, notTty)).toBe('off');
    expect(Progress.modeFor(true, true, notTty)).toBe('json');
    expect(Progress.modeFor(false, false, tty().stream)).toBe('off');
    expect(Progress.modeFor(false, true, tty().stream)).toBe('bar');
  });

  it('formats an ETA as m:ss or h:mm:ss', () => {
    expect(clock(5)).toBe('0:05');
    expect(clock(3725)).toBe('1:02:05');
  });
});
