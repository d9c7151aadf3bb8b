import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import type { RunningServer } from '../../src/server/serve.js';
import { credentialUrl, ensureBucket, TEST_BUCKET, testConnection, testS3 } from '../support/s3.js';
import { eventually, FAST_RETRIES, SYSTEM, startFerry, upload } from './support.js';

/**
 * The other actions, for real: a command (no shell) with the event in its environment, a copy
 * and a move to another bucket on the test RGW (checked with the S3 client), an email to a
 * loopback SMTP catcher (smtp-server). The server's homes are on RGW too.
 */
describe('event rules: command, copy/move to another bucket, email', () => {
  let ferry: Awaited<ReturnType<typeof startFerry>>;
  let server: RunningServer;
  let client: S3Client;
  let smtp: SMTPServer;
  const mails: { from: string; to: string[]; data: string }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ferry-actions-'));
  const prefix = `t-events-${randomBytes(4).toString('hex')}`;
  const archive = `ferry-events-archive-${randomBytes(4).toString('hex')}`;
  const password = 'erin-password-1';

  beforeAll(async () => {
    client = createS3Client(testConnection({ prefix: '' }));
    await ensureBucket(client);
    await ensureBucket(client, archive);
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    const smtpPort = (smtp.server.address() as { port: number }).port;
    const s3 = testS3();
    ferry = await startFerry({
      ...FAST_RETRIES,
      FERRY_EVENTS__MAX_ATTEMPTS: '5',
      FERRY_STORAGE: credentialUrl(
        { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        `${TEST_BUCKET}/${prefix}/homes`,
      ),
      FERRY_SMTP__HOST: '127.0.0.1',
      FERRY_SMTP__PORT: String(smtpPort),
      FERRY_SMTP__FROM: 'ferry@example.test',
    });
    server = ferry.server;
    await server.accounts.users.create({ username: 'erin', password }, SYSTEM);
    await server.accounts.connections.create(
      {
        name: 'archive',
        settings: {
          bucket: archive,
          endpoint: s3.endpoint,
          region: 'us-east-1',
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
      },
      SYSTEM,
    );
  });
  afterAll(async () => {
    await server?.stop(1000);
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
    for (const [bucket, p] of [
      [archive, ''],
      [TEST_BUCKET, `${prefix}/`],
    ] as const) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: p }));
      for (const o of listed.Contents ?? [])
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: archive }));
    client.destroy();
  });

  const object = async (bucket: string, key: string) => {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await r.Body?.transformToString();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  };

  it('command: runs the program (no shell) with the event in its environment', async () => {
    const script = join(dir, 'hook.sh');
    const out = join(dir, 'hook.out');
    writeFileSync(
      script,
      `#!/bin/sh\nprintf '%s|%s|%s|%s|%s|%s|%s\\n' "$1" "$FERRY_EVENT_KIND" "$FERRY_EVENT_USERNAME" "$FERRY_EVENT_PATH" "$FERRY_EVENT_BYTES" "$EXTRA" "$FERRY_DELIVERY_ID" >> "${out}"\n`,
    );
    chmodSync(script, 0o755);
    await server.events.rules.create(
      {
        name: 'run-it',
        on: ['upload'],
        filters: { paths: ['/cmd/**'] },
        actions: [{ type: 'command', argv: [script, 'arg; not a shell $HOME'], env: { EXTRA: 'extra' } }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'erin', password, '/cmd/c.txt', 'seven b');
    await eventually(
      async () => (await server.events.deliveries.list({ rule: 'run-it' }))[0]?.status === 'done',
      'command done',
    );
    const [d] = await server.events.deliveries.list({ rule: 'run-it' });
    expect(readFileSync(out, 'utf8')).toBe(
      `arg; not a shell $HOME|upload|erin|/cmd/c.txt|7|extra|${d?.id}\n`,
    );
  });

  it('command: a failing program is retried, then dead, with its exit code and stderr', async () => {
    await server.events.rules.create(
      {
        name: 'fails',
        on: ['upload'],
        filters: { paths: ['/fail/**'] },
        actions: [{ type: 'command', argv: ['/bin/sh', '-c', 'echo broken >&2; exit 3'] }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'erin', password, '/fail/x.txt', 'x');
    await eventually(
      async () => (await server.events.deliveries.list({ rule: 'fails' }))[0]?.status === 'dead',
      'dead',
    );
    const [d] = await server.events.deliveries.list({ rule: 'fails' });
    expect(d).toMatchObject({ attempts: 5, lastError: 'command /bin/sh: exit code 3: broken' });
  });

  it('copy and move: the file lands in another bucket (S3 client checks)', async () => {
    await server.events.rules.create(
      {
        name: 'archive-it',
        on: ['upload'],
        filters: { paths: ['/docs/**'] },
        actions: [
          {
            type: 'copy',
            to: { type: 's3', connection: 'archive', prefix: 'copies' },
            path: '{username}/{date}/{name}',
          },
        ],
      },
      SYSTEM,
    );
    await server.events.rules.create(
      {
        name: 'move-it',
        on: ['upload'],
        filters: { paths: ['/outbox/**'] },
        actions: [{ type: 'move', to: { type: 's3', connection: 'archive', prefix: 'moved' } }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'erin', password, '/docs/report.pdf', 'the report');
    await upload(ferry.url, 'erin', password, '/outbox/sent.txt', 'sent once');
    await eventually(
      async () =>
        [
          ...(await server.events.deliveries.list({ rule: 'archive-it' })),
          ...(await server.events.deliveries.list({ rule: 'move-it' })),
        ].filter((d) => d.status === 'done').length === 2,
      'copy and move done',
    );
    const today = new Date().toISOString().slice(0, 10);
    expect(await object(archive, `copies/erin/${today}/report.pdf`)).toBe('the report');
    // The copy leaves the source; the move removes it.
    expect(await object(TEST_BUCKET, `${prefix}/homes/erin/docs/report.pdf`)).toBe('the report');
    expect(await object(archive, 'moved/erin/outbox/sent.txt')).toBe('sent once');
    expect(await object(TEST_BUCKET, `${prefix}/homes/erin/outbox/sent.txt`)).toBeUndefined();
  });

  it('a copy rule may only be on events that leave a file (validation names the field)', async () => {
    await expect(
      server.events.rules.create(
        {
          name: 'bad-copy',
          on: ['delete'],
          actions: [{ type: 'copy', to: { type: 's3', connection: 'archive', prefix: '' } }],
        },
        SYSTEM,
      ),
    ).rejects.toThrow(/actions\.0\.type: copy needs a file/);
  });

  it('email: arrives at the SMTP catcher with the event', async () => {
    await server.events.rules.create(
      {
        name: 'mail-it',
        on: ['upload'],
        filters: { paths: ['/mail/**'] },
        actions: [{ type: 'email', to: ['ops@example.test'], subject: 'new file {path} ({bytes} bytes)' }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'erin', password, '/mail/m.txt', 'mail me');
    await eventually(() => mails.length === 1, 'one mail');
    const [mail] = mails;
    expect(mail?.from).toBe('ferry@example.test');
    expect(mail?.to).toEqual(['ops@example.test']);
    expect(mail?.data).toContain('Subject: new file /mail/m.txt (7 bytes)');
    expect(mail?.data).toContain('username: erin');
    const [d] = await server.events.deliveries.list({ rule: 'mail-it' });
    expect(mail?.data).toContain(`X-Ferry-Delivery: ${d?.id}`);
    // The catcher has the mail a moment before the node records the delivery done.
    await eventually(
      async () => (await server.events.deliveries.list({ rule: 'mail-it' }))[0]?.status === 'done',
      'recorded done',
    );
  });
});
