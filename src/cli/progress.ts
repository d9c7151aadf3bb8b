import { humanBytes } from './output.js';

export type ProgressMode = 'bar' | 'json' | 'off';

export interface ProgressOptions {
  mode: ProgressMode;
  /** Where the bar goes (a TTY) — stderr; JSON events go to `out`. */
  bar?: NodeJS.WriteStream;
  out?: (line: string) => void;
  /** Milliseconds between redraws / events. */
  interval?: number;
  now?: () => number;
}

/**
 * Progress of a copy or move: bytes, rate and ETA. On a TTY a one-line bar on stderr, redrawn at
 * most every `interval`; with `--json` one `{"event":"progress",…}` line per interval on stdout
 * and a final `{"event":"done",…}`; otherwise silent. The rate is a moving average over the last
 * few seconds so the ETA settles instead of jumping.
 */
export class Progress {
  private bytes = 0;
  private total: number | undefined;
  private files = 0;
  private readonly started: number;
  private lastDraw = 0;
  private readonly samples: [number, number][] = [];
  private readonly now: () => number;
  private readonly interval: number;

  constructor(private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.interval = opts.interval ?? (opts.mode === 'json' ? 1000 : 200);
    this.started = this.now();
    this.samples.push([this.started, 0]);
  }

  /** Pick the mode the way users expect: bar on a TTY, JSON when asked, else nothing. */
  static modeFor(json: boolean | undefined, enabled: boolean, stream: NodeJS.WriteStream): ProgressMode {
    if (!enabled) return 'off';
    if (json) return 'json';
    return stream.isTTY ? 'bar' : 'off';
  }

  /** False when nothing is shown (callers may then skip counting). */
  get active(): boolean {
    return this.opts.mode !== 'off';
  }

  /** Add to the expected total (files may be announced as they are found). */
  expect(bytes: number): void {
    this.total = (this.total ?? 0) + bytes;
  }

  add(bytes: number): void {
    this.bytes += bytes;
    const t = this.now();
    if (t - this.lastDraw >= this.interval) this.report(t);
  }

  fileDone(): void {
    this.files++;
  }

  /** Final line (bar) or `done` event. */
  finish(): void {
    const t = this.now();
    const seconds = Math.max((t - this.started) / 1000, 1e-3);
    if (this.opts.mode === 'json') {
      this.opts.out?.(
        JSON.stringify({
          event: 'done',
          bytes: this.bytes,
          files: this.files,
          seconds: Number(seconds.toFixed(3)),
          rate: Math.round(this.bytes / seconds),
        }),
      );
    } else if (this.opts.mode === 'bar') {
      this.draw(
        `${humanBytes(this.bytes)} in ${seconds.toFixed(1)} s, ${humanBytes(this.bytes / seconds)}/s`,
      );
      this.opts.bar?.write('\n');
    }
  }

  /** Bytes per second over the last ~5 s. */
  private rate(t: number): number {
    this.samples.push([t, this.bytes]);
    while (this.samples.length > 2 && t - this.samples[0]![0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    return t > t0 ? ((this.bytes - b0) * 1000) / (t - t0) : 0;
  }

  private report(t: number): void {
    this.lastDraw = t;
    const rate = this.rate(t);
    const eta =
      this.total !== undefined && rate > 0 ? Math.max(0, (this.total - this.bytes) / rate) : undefined;
    if (this.opts.mode === 'json') {
      this.opts.out?.(
        JSON.stringify({
          event: 'progress',
          bytes: this.bytes,
          ...(this.total !== undefined && { total: this.total }),
          files: this.files,
          rate: Math.round(rate),
          ...(eta !== undefined && { eta: Math.round(eta) }),
        }),
      );
    } else if (this.opts.mode === 'bar') {
      const pct =
        this.total !== undefined && this.total > 0 ? Math.min(1, this.bytes / this.total) : undefined;
      const width = 24;
      const bar =
        pct === undefined
          ? ''
          : `[${'#'.repeat(Math.round(pct * width)).padEnd(width, '.')}] ${Math.floor(pct * 100)}% `;
      const of = this.total !== undefined ? ` / ${humanBytes(this.total)}` : '';
      this.draw(
        `${bar}${humanBytes(this.bytes)}${of}  ${humanBytes(rate)}/s${eta !== undefined ? `  ETA ${clock(eta)}` : ''}`,
      );
    }
  }

  private draw(line: string): void {
    this.opts.bar?.write(`\r\x1b[K${line}`);
  }
}

/** Seconds as m:ss or h:mm:ss. */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
