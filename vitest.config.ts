import { defineConfig } from 'vitest/config';

const common = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  // Two cores shared with the S3 servers: a couple of files at a time is the sweet spot. Both
  // projects share one pool of this many workers.
  maxWorkers: 2,
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  // Each test file's temporary folders live in one folder removed after it (test/support/temp-per-file.ts).
  setupFiles: ['test/support/temp-per-file.ts'],
};

/**
 * Two projects, one run: `rgw` runs every test on Ceph RGW (test/support/global-setup.ts);
 * `swift` runs the storage and CLI tests again on OpenStack Swift's s3api, a second S3
 * implementation (test/support/swift-setup.ts). Files that never touch S3 run once. The root's
 * own setup builds dist/ once for both. One project alone: `npx vitest run --project rgw …`.
 */
export default defineConfig({
  test: {
    ...common,
    globalSetup: ['test/support/build-setup.ts'],
    projects: [
      {
        test: {
          ...common,
          name: 'rgw',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts', 'test/support/postgres-setup.ts'],
        },
      },
      {
        test: {
          ...common,
          name: 'swift',
          include: ['test/storage/**/*.test.ts', 'test/cli/**/*.test.ts'],
          exclude: ['test/storage/memory.test.ts', 'test/storage/local.test.ts', 'test/cli/progress.test.ts'],
          globalSetup: ['test/support/swift-setup.ts'],
        },
      },
    ],
  },
});
