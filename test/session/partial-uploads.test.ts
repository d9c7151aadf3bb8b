import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Session } from '../../src/session/types.js';
import { suiteFixture } from '../support/suite.js';
import { poolFor, rgwSessionParts, sessionFor, userWith } from './support.js';

const MiB = 1024 * 1024;

async function names(session: Session, path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of session.list(path)) out.push(e.name);
  return out.sort();
}

describe('showPartialUploads: unfinished multipart uploads visible in listings (RGW)', () => {
  const rgw = suiteFixture(rgwSessionParts);

  it('an upload in progress shows as name.partial-upload in its folder only, when the connection says so', async () => {
    const home = { type: 's3' as const, connection: 'main', prefix: 'p' };
    const shown = sessionFor(userWith({ home }), {
      store: rgw.store,
      pool: poolFor({ main: rgw.conn }, true),
    }).session;
    const hidden = sessionFor(userWith({ home }), {
      store: rgw.store,
      pool: poolFor({ main: rgw.conn }, false),
    }).session;
    await shown.write('/dir/done.txt', 'x');
    const h = await shown.openWrite('/dir/big.bin');
    await h.write(0, randomBytes(6 * MiB)); // one part sent: the multipart upload exists
    expect(await rgw.uploads('p')).toBe(1);
    expect(await names(shown, '/dir')).toEqual(['big.bin.partial-upload', 'done.txt']);
    expect(await names(shown, '/')).toEqual(['dir']);
    expect(await names(hidden, '/dir')).toEqual(['done.txt']);
    await h.close();
    expect(await names(shown, '/dir')).toEqual(['big.bin', 'done.txt']);
    expect(await rgw.uploads('p')).toBe(0);
  });
});
