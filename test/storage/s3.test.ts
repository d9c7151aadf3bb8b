import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';
import { writeHandleConformance } from '../conformance/write-handle-contract.js';
import { testS3, testS3Storage } from '../support/s3.js';

const MiB = 1024 * 1024;

storageConformance('s3 (real S3 server)', async () => {
  const { storage } = await testS3Storage();
  return { storage, keepsMetadata: true, controlCharNames: testS3().supports.controlCharPrefixes };
});

writeHandleConformance('s3 (real S3 server)', async () => {
  const { storage, raw, client, conn } = await testS3Storage();
  // Small parts and a small reorder window, so a few MiB exercise parts, reordering and spilling.
  raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 3, writeWindow: MiB };
  return {
    storage,
    keepsMetadata: true,
    large: 12 * MiB + 4321,
    window: MiB,
    conditionalWrites: testS3().supports.conditionalWrites,
    // What `ferry uploads` would list under this storage's prefix.
    leftovers: async () => {
      const res = await client.send(
        new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` }),
      );
      return res.Uploads?.length ?? 0;
    },
  };
});

readHandleConformance('s3 (real S3 server)', async () => {
  const { storage, raw } = await testS3Storage();
  // Small parts, so a few MiB span several parts and read-ahead is exercised.
  const partSize = 1024 * 1024;
  raw.download = { ...raw.download, partSize, concurrency: 3 };
  return { storage, partSize };
});
