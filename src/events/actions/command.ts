import { spawn } from 'node:child_process';
import type { z } from 'zod';
import type { commandActionSchema } from '../model.js';
import { type ActionContext, eventEnv } from './template.js';

export type CommandAction = z.output<typeof commandActionSchema>;

/** Bytes of stderr kept for the error (the tail); stdout is not read at all. */
const STDERR_TAIL = 4096;

/**
 * Run the program (no shell) with the event in its environment (`FERRY_EVENT_*`,
 * `FERRY_EVENT_JSON`, `FERRY_DELIVERY_ID`), the rule's `env`, and only PATH, HOME and LANG of the
 * server's own environment (never its secrets). Exit 0 delivers; another exit, a signal or the
 * timeout is a failure with the tail of its stderr. The program runs in its own process group:
 * the timeout (or a stop) kills the whole group, so what it started cannot outlive the delivery.
 * Its output is discarded (only stderr's last few KiB are kept), so a chatty program that
 * succeeds is delivered, never failed and run again.
 */
export function runCommand(action: CommandAction, ctx: ActionContext): Promise<void> {
  const [program, ...args] = action.argv as [string, ...string[]];
  const inherited: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k]) inherited[k] = process.env[k] as string;
  return new Promise((resolve, reject) => {
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(program, args, {
      env: { ...inherited, ...action.env, ...eventEnv(ctx) },
      cwd: action.cwd,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, action.timeoutSeconds * 1000);
    const onAbort = () => killGroup();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL);
    });
    child.on('error', (err: NodeJS.ErrnoException) =>
      finish(new Error(`command ${program}: ${err.code ?? err.message}`)),
    );
    let stderrClosed = false;
    child.stderr?.on('close', () => {
      stderrClosed = true;
    });
    // 'exit', not 'close': a process left holding stderr must not hold the delivery up (its
    // stderr gets a short grace to deliver its last lines, then is dropped).
    child.on('exit', async (code, signal) => {
      if (code !== 0 || timedOut) killGroup(); // a failure: nothing it started may run on
      if (!stderrClosed)
        await new Promise((r) => {
          const t = setTimeout(r, 500);
          child.stderr?.once('close', () => {
            clearTimeout(t);
            r(undefined);
          });
        });
      child.stderr?.destroy();
      if (code === 0 && !timedOut) return finish();
      const tail = stderr.trim().slice(-300);
      const why = timedOut
        ? `killed after ${action.timeoutSeconds} s`
        : ctx.signal?.aborted
          ? 'stopped (the server is shutting down)'
          : code !== null
            ? `exit code ${code}`
            : `signal ${signal}`;
      finish(new Error(`command ${program}: ${why}${tail ? `: ${tail}` : ''}`));
    });
  });
}
