import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * The AWS SDK's S3 package, loaded on first use. It is CommonJS (~1.2 MB with its @smithy
 * dependencies, ~0.5 s of CPU to load on a loaded machine), so it can be required synchronously
 * the moment a request needs it; `ferry ls` on the lean listing path (list-lean.ts) never does.
 * Node shares one module cache between `import` and `require`: the classes are the same either way.
 */
export function s3Sdk(): typeof import('@aws-sdk/client-s3') {
  return require('@aws-sdk/client-s3');
}

/** The SDK's Node HTTP handler (client.ts), loaded with the client. */
export function nodeHttpHandler(): typeof import('@smithy/node-http-handler') {
  return require('@smithy/node-http-handler');
}
