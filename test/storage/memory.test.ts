import { checkedStorage } from '../../src/storage/checked.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';
import { writeHandleConformance } from '../conformance/write-handle-contract.js';

storageConformance('memory', async () => ({
  storage: checkedStorage(new MemoryStorage()),
  keepsMetadata: true,
}));

writeHandleConformance('memory', async () => ({
  storage: checkedStorage(new MemoryStorage()),
  keepsMetadata: true,
  large: 3 * 1024 * 1024 + 4321,
  window: 1024 * 1024,
}));

readHandleConformance('memory', async () => ({ storage: checkedStorage(new MemoryStorage()) }));
