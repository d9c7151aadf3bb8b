import type { S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { s3Sdk } from './sdk.js';

/** Calls that create an object (or an upload) and echo the SSE-C algorithm when they apply it. */
const WRITES = new Set(['PutObjectCommand', 'CreateMultipartUploadCommand', 'CopyObjectCommand']);

interface WriteInput {
  Bucket?: string;
  Key?: string;
  SSECustomerKey?: string;
  RequestPayer?: 'requester';
}
interface WriteOutput {
  SSECustomerAlgorithm?: string;
  VersionId?: string;
  UploadId?: string;
}

/**
 * Make every write on `client` that asks for SSE-C (a customer-provided key) prove the store
 * applied it. S3 echoes `x-amz-server-side-encryption-customer-algorithm` on PutObject,
 * CreateMultipartUpload and CopyObject; a store that accepts the headers and ignores them
 * (Swift's s3api stores plaintext) echoes nothing. Then the call fails loudly (NotSupported) and
 * leaves no plaintext behind: the object just written is deleted (that very version, on a
 * versioned bucket), an upload just created is aborted before any part is sent.
 * Installed once per client (client.ts), so every write path — single PUT, multipart, copies,
 * folder markers, journals — is covered without each caller checking.
 */
export function requireSseCustomerEcho(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as WriteInput;
      if (!input.SSECustomerKey || !WRITES.has(context.commandName ?? '')) return result;
      const out = result.output as WriteOutput;
      if (out.SSECustomerAlgorithm) return result;
      const where = `s3://${input.Bucket}/${input.Key}`;
      const payer = input.RequestPayer ? { RequestPayer: input.RequestPayer } : {};
      const { AbortMultipartUploadCommand, DeleteObjectCommand } = s3Sdk();
      const undo = out.UploadId
        ? client.send(
            new AbortMultipartUploadCommand({
              Bucket: input.Bucket,
              Key: input.Key,
              UploadId: out.UploadId,
              ...payer,
            }),
          )
        : client.send(
            new DeleteObjectCommand({
              Bucket: input.Bucket,
              Key: input.Key,
              VersionId: out.VersionId,
              ...payer,
            }),
          );
      const cleanup = await undo.then(
        () => `nothing was kept (${out.UploadId ? 'the upload was aborted' : 'the object was deleted'})`,
        (err: Error) =>
          `removing it FAILED (${err.name}: ${err.message}): delete ${where} yourself, it is not encrypted`,
      );
      throw new StorageError(
        'NotSupported',
        `the S3 store did not apply SSE-C to ${where}: it accepted the customer key but did not confirm encryption, so the bytes would be stored in plaintext; ${cleanup}. This store cannot be used with --sse-c-key`,
      );
    },
    { step: 'initialize', name: 'ferryRequireSseCustomerEcho' },
  );
}
