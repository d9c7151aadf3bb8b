import type { ServeSftp } from './types.js';

/**
 * STUB (the ssh helper's placeholder until the sftp helper's implementation lands): ends the
 * channel at once, so a client sees the subsystem start and close.
 */
export const serveSftp: ServeSftp = (_ctx, sftp) => {
  sftp.end();
};
