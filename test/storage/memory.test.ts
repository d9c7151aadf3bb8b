import { checkedStorage } from '../../src/storage/checked.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { storageConformance } from '../conformance/storage-contract.js';

storageConformance('memory', async () => ({
  storage: checkedStorage(new MemoryStorage()),
  keepsMetadata: true,
}));
