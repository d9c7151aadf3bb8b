import type { ExecCommand } from './types.js';

/** STUB (placeholder until the scp helper's implementation lands): refuses, as SCP reports errors. */
export const runScp: ExecCommand = async (_ctx, _argv, channel) => {
  channel.write('\x01scp is not available yet\n');
  return 1;
};
