import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testS3 } from './s3.js';

const run = promisify(execFile);

/** Run the real aws CLI against the test S3 server; returns parsed JSON when it prints any. */
// biome-ignore lint/suspicious/noExplicitAny: the CLI prints JSON of many shapes
export async function aws(...args: string[]): Promise<any> {
  const s3 = testS3();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CA_BUNDLE: '',
    AWS_PAGER: '',
  };
  delete env.AWS_PROFILE;
  const { stdout } = await run('aws', ['--endpoint-url', s3.endpoint, '--output', 'json', ...args], {
    env,
    maxBuffer: 1 << 26,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`aws ${args.join(' ')} failed: ${err.stderr || err.message}`);
  });
  return stdout.trim().startsWith('{') || stdout.trim().startsWith('[') ? JSON.parse(stdout) : stdout;
}
