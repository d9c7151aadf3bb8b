import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../storage/errors.js';
import type { ServerConfig } from './config.js';

/** What preparing the data folder found or made (for the start-up lines). */
export interface DataDir {
  path: string;
  /** The folder did not exist before this start. */
  created: boolean;
  /** The key that encrypts stored secrets. */
  secretKey: string;
  /** Where the key came from: the configuration (file or FERRY_SECRET_KEY), or the key file. */
  secretKeySource: 'config' | 'file' | 'generated';
}

export const SECRET_KEY_FILE = 'secret.key';

/**
 * Create the data folder (0700: it holds the database and the secret key) on first start, and
 * settle the secret key: the configured one, else `<data>/secret.key`, generated once (0600).
 * `say` gets one line when something was created. Never prints the key.
 */
export function prepareDataDir(config: ServerConfig, say: (line: string) => void = () => {}): DataDir {
  const path = config.data;
  const created = !existsSync(path);
  if (created) {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chmodSync(path, 0o700); // recursive mkdir applies the umask
    say(`created the data folder ${path}`);
  } else if (!statSync(path).isDirectory()) {
    throw new StorageError('NotADirectory', `data: ${path} is not a folder`);
  }
  if (config.secretKey) return { path, created, secretKey: config.secretKey, secretKeySource: 'config' };
  const file = join(path, SECRET_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length < 32) {
      throw new StorageError(
        'InvalidArgument',
        `${file}: the secret key is too short (at least 32 characters)`,
      );
    }
    return { path, created, secretKey: key, secretKeySource: 'file' };
  }
  const key = randomBytes(32).toString('base64');
  // wx: two processes starting on a fresh folder cannot both write a key (the loser reads it).
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return prepareDataDir(config, say);
    throw err;
  }
  say(
    `generated the secret key that encrypts stored connection secrets: ${file} (back it up; set FERRY_SECRET_KEY to use your own)`,
  );
  return { path, created, secretKey: key, secretKeySource: 'generated' };
}
