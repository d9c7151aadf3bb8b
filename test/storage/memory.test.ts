import { checkedStorage } from '../../src/storage/checked.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';

storageConformance('memory', async () => ({
  storage: checkedStorage(new MemoryStorage()),
  keepsMetadata: true,
}));

readHandleConformance('memory', async () => ({ storage: checkedStorage(new MemoryStorage()) }));
