import { storageConformance } from '../conformance/storage-contract.js';
import { testS3Storage } from '../support/s3.js';

storageConformance('s3 (real S3 server)', async () => {
  const { storage } = await testS3Storage();
  return { storage, keepsMetadata: true };
});
