import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashes: scrypt (node:crypto, async so logins don't block the event loop), stored as
 * `scrypt$N$r$p$salt$hash` (base64) so the parameters can grow without breaking stored hashes.
 */
const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

function derive(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
  length: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      length,
      { N: n, r, p, maxmem: 256 * n * r + (1 << 20) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P, KEY_LENGTH);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

let dummy: Promise<string> | undefined;

/**
 * Whether `password` matches `stored`, comparing in constant time. `stored` undefined (no such
 * user, or no password) still costs one hash, against a dummy, and answers false: a login for an
 * unknown name takes as long as a wrong password.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  const real = stored ?? undefined;
  const hash = real?.startsWith('scrypt$') ? real : await dummy;
  const [, n, r, p, salt, key] = hash.split('$');
  const expected = Buffer.from(key ?? '', 'base64');
  const got = await derive(
    password,
    Buffer.from(salt ?? '', 'base64'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return timingSafeEqual(got, expected) && real === hash;
}
