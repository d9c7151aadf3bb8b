import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { storageConformance } from '../conformance/storage-contract.js';

storageConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-'));
  return {
    storage: checkedStorage(new LocalStorage(dir)),
    keepsMetadata: false,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
