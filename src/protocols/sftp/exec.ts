import type { ExecCommand } from './types.js';

/** STUB (placeholder until the scp helper's implementation lands). */
export const runHashCommand: ExecCommand = async (_ctx, argv, channel) => {
  channel.stderr.write(`${argv[0]}: not available yet\n`);
  return 1;
};
