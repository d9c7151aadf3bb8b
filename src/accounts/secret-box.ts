import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { StorageError } from '../storage/errors.js';

/**
 * Secrets at rest: AES-256-GCM with the server's secret key. Format `v1:` + base64(iv(12) |
 * tag(16) | ciphertext); `context` (e.g. `connection:NAME`) is bound as associated data, so a
 * sealed value copied to another row does not open there. The version prefix lets the format or
 * key change later without guessing.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== 32)
      throw new StorageError(
        'InvalidArgument',
        'secretKey: must be 32 bytes (64 hex or 44 base64 characters)',
      );
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    if (!sealed.startsWith('v1:'))
      throw new StorageError('InvalidArgument', `a stored secret (${context}) has an unknown format`);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new StorageError(
        'InvalidArgument',
        `a stored secret (${context}) cannot be decrypted with this secret key`,
        { cause: err },
      );
    }
  }

  /** A value that identifies the key without revealing it (kept in `server_keys`). */
  checkValue(): string {
    return `v1:${createHmac('sha256', this.#key).update('ferry secret key check').digest('base64')}`;
  }

  matches(checkValue: string): boolean {
    const mine = Buffer.from(this.checkValue());
    const theirs = Buffer.from(checkValue);
    return mine.length === theirs.length && timingSafeEqual(mine, theirs);
  }
}
