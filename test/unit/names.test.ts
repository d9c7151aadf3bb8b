import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import {
  decodePath,
  decodeSegment,
  encodePath,
  encodeSegment,
  isPlainSegment,
  QUOTE,
} from '../../src/storage/names.js';
import { normalizePath } from '../../src/storage/paths.js';

/** Native segments a Ferry path cannot show as themselves. */
const special = [
  'Cafe\u0301.jpg', // NFD
  '',
  '.',
  '..',
  'x\u0007y',
  'tab\there',
  'del\u007f',
  'c1\u0085',
  `${QUOTE}quoted`,
  QUOTE,
  '\u212b', // Angstrom sign: NFC maps it to U+00C5
  'mixed Cafe\u0301 %2F \u0000',
];

/** Native segments shown as themselves. */
const plain = [
  'a',
  'Café.jpg',
  '...',
  '.hidden',
  'a b',
  '100%',
  'x%41',
  '%41 not decoded',
  '日本語',
  'emoji 🙂',
  `in${QUOTE}side`,
];

describe('name encoding (names.ts)', () => {
  it('shows plain names as themselves', () => {
    for (const n of plain) {
      expect(isPlainSegment(n), n).toBe(true);
      expect(encodeSegment(n)).toBe(n);
      expect(decodeSegment(n)).toBe(n);
    }
  });

  it('encodes every name a path cannot express, and decodes it back exactly', () => {
    const seen = new Set<string>();
    for (const n of special) {
      const e = encodeSegment(n);
      expect(e.startsWith(QUOTE), JSON.stringify(n)).toBe(true);
      // The encoded form is itself a valid, already-normalised path segment.
      expect(normalizePath(e)).toBe(e);
      expect(decodeSegment(e)).toBe(n);
      seen.add(e);
    }
    expect(seen.size).toBe(special.length);
    expect(encodeSegment('Cafe\u0301.jpg')).toBe(`${QUOTE}Cafe%CC%81.jpg`);
    expect(encodeSegment('')).toBe(QUOTE);
    expect(encodeSegment('..')).toBe(`${QUOTE}..`);
    expect(encodeSegment(`${QUOTE}q`)).toBe(`${QUOTE}%E2%80%9Bq`);
  });

  it('the NFD name and its NFC twin get different names', () => {
    expect(encodeSegment('Cafe\u0301.jpg')).not.toBe(encodeSegment('Caf\u00e9.jpg'));
  });

  it('rejects non-canonical and malformed encoded segments (the mapping stays a bijection)', () => {
    for (const bad of [
      `${QUOTE}abc`, // would decode to a plain name
      `${QUOTE}%41`, // 'A' needs no encoding
      `${QUOTE}Cafe%cc%81.jpg`, // lower-case hex
      `${QUOTE}%E2%80%9`, // malformed
      `${QUOTE}%FF`, // not UTF-8
      `${QUOTE}a%2Fb`, // a segment never holds '/'
      `${QUOTE}Cafe\u0301`,
    ]) {
      expect(() => decodeSegment(bad), bad).toThrow(StorageError);
      expect(() => normalizePath(`dir/${bad}/x`), bad).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
    }
  });

  it('maps whole relative paths segment by segment', () => {
    expect(encodePath('a//b')).toBe(`a/${QUOTE}/b`);
    expect(encodePath('/lead')).toBe(`${QUOTE}/lead`);
    expect(encodePath('x/./y/../z')).toBe(`x/${QUOTE}./y/${QUOTE}../z`);
    expect(encodePath('')).toBe('');
    for (const native of ['a//b', '/lead', 'trail/', 'x/./y/../z', 'Cafe\u0301/x\u0007y', 'plain/path']) {
      expect(decodePath(encodePath(native))).toBe(native);
    }
  });

  it('the printable-ASCII shortcut gives what segment-by-segment encoding gives', () => {
    const bySegment = (native: string) => native.split('/').map(encodeSegment).join('/');
    const segments = ['', '.', '..', '...', 'a', '.a', 'a.', '..a', ' ', '~', '%2F', 'a b'];
    const natives: string[] = [];
    for (const a of segments) {
      natives.push(a);
      for (const b of segments) {
        natives.push(`${a}/${b}`);
        for (const c of segments) natives.push(`${a}/${b}/${c}`);
      }
    }
    for (let code = 0; code < 0x100; code++) {
      const ch = String.fromCharCode(code);
      natives.push(ch, `x${ch}y`, `dir/${ch}`, `${ch}/x`, `${ch}${ch}`);
    }
    natives.push(`a/${QUOTE}b`, 'Cafe\u0301', 'caf\u00e9/x');
    for (const native of natives.filter((n) => n !== '')) {
      expect(encodePath(native), JSON.stringify(native)).toBe(bySegment(native));
    }
  });

  it('a random round trip over awkward characters', () => {
    const alphabet = ['a', '.', '\u0301', 'e', '\u0000', '\u0085', QUOTE, '%', ' ', 'é', '\u212b', '🙂'];
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(Math.random() * 6);
      let n = '';
      for (let j = 0; j < len; j++) n += alphabet[Math.floor(Math.random() * alphabet.length)];
      const e = encodeSegment(n);
      expect(decodeSegment(e)).toBe(n);
      expect(encodeSegment(decodeSegment(e))).toBe(e);
      expect(normalizePath(e)).toBe(e);
    }
  });
});
