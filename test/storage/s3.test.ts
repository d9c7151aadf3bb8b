import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';
import { testS3Storage } from '../support/s3.js';

storageConformance('s3 (real S3 server)', async () => {
  const { storage } = await testS3Storage();
  return { storage, keepsMetadata: true };
});

readHandleConformance('s3 (real S3 server)', async () => {
  const { storage, raw } = await testS3Storage();
  // Small parts, so a few MiB span several parts and read-ahead is exercised.
  const partSize = 1024 * 1024;
  raw.download = { ...raw.download, partSize, concurrency: 3 };
  return { storage, partSize };
});
