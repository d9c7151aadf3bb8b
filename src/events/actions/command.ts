import { execFile } from 'node:child_process';
import type { z } from 'zod';
import type { commandActionSchema } from '../model.js';
import { type ActionContext, eventEnv } from './template.js';

export type CommandAction = z.output<typeof commandActionSchema>;

/**
 * Run the program (no shell) with the event in its environment (`FERRY_EVENT_*`,
 * `FERRY_EVENT_JSON`, `FERRY_DELIVERY_ID`), the rule's `env`, and only PATH, HOME and LANG of the
 * server's own environment (never its secrets). Exit 0 delivers; another exit, a signal or the
 * timeout (the program is killed) is a failure with the tail of its stderr.
 */
export function runCommand(action: CommandAction, ctx: ActionContext): Promise<void> {
  const [program, ...args] = action.argv as [string, ...string[]];
  const inherited: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k]) inherited[k] = process.env[k] as string;
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      {
        env: { ...inherited, ...action.env, ...eventEnv(ctx) },
        cwd: action.cwd,
        timeout: action.timeoutSeconds * 1000,
        killSignal: 'SIGKILL',
        maxBuffer: 1024 * 1024,
        signal: ctx.signal,
      },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const e = err as NodeJS.ErrnoException & {
          killed?: boolean;
          code?: number | string;
          signal?: string;
        };
        const tail = String(stderr).trim().slice(-300);
        const why = e.killed
          ? `killed after ${action.timeoutSeconds} s`
          : typeof e.code === 'number'
            ? `exit code ${e.code}`
            : e.signal
              ? `signal ${e.signal}`
              : String(e.code ?? e.message);
        reject(new Error(`command ${program}: ${why}${tail ? `: ${tail}` : ''}`));
      },
    );
  });
}
