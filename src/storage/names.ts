import { StorageError } from './errors.js';
import type { StoragePath } from './types.js';

/**
 * The one reversible mapping between native names (an S3 key segment, a local file name) and
 * the segments of a Ferry path (docs/s3-semantics.md, "Names paths cannot express").
 *
 * A Ferry path segment is NFC, has no control characters, is not empty, `.` or `..`. A native
 * segment that breaks one of these rules — or that begins with the quote character `‛` (U+201B),
 * which marks an encoded segment — is shown as `‛` + encodeURIComponent(segment); every other
 * segment is shown as itself. Decoding accepts only the canonical form
 * (`encodeSegment(decodeSegment(x)) === x`), so the mapping is a bijection: every native name
 * has exactly one Ferry name and every Ferry name exactly one native name. Nothing is dropped.
 *
 * Backends apply it at their boundary (S3 KeyMap, local backend); the memory backend keeps Ferry
 * paths as they are and needs none.
 */

/** Marks an encoded segment: U+201B SINGLE HIGH-REVERSED-9 QUOTATION MARK. */
export const QUOTE = '\u201b';

// C0 controls, DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** True when a native segment can be shown as itself (it needs no encoding). */
export function isPlainSegment(native: string): boolean {
  return (
    native !== '' &&
    native !== '.' &&
    native !== '..' &&
    !native.startsWith(QUOTE) &&
    !CONTROL.test(native) &&
    native.normalize('NFC') === native
  );
}

/**
 * The Ferry path segment of a native segment (which never contains `/`). Throws InvalidArgument
 * for a name that is not valid Unicode (a lone surrogate), which no UTF-8 key or path can hold.
 */
export function encodeSegment(native: string): string {
  if (isPlainSegment(native)) return native;
  try {
    return QUOTE + encodeURIComponent(native);
  } catch {
    throw new StorageError('InvalidArgument', `name is not valid Unicode: ${JSON.stringify(native)}`);
  }
}

/**
 * The native segment of a Ferry path segment. A segment beginning with `‛` is percent-decoded;
 * a malformed or non-canonical one (`‛abc`, `‛%41`, lower-case hex …) is InvalidArgument, since
 * accepting it would give one native name two Ferry names.
 */
export function decodeSegment(segment: string): string {
  if (!segment.startsWith(QUOTE)) return segment;
  let native: string;
  try {
    native = decodeURIComponent(segment.slice(QUOTE.length));
  } catch {
    throw badEncoding(segment);
  }
  if (native.includes('/') || encodeSegment(native) !== segment) throw badEncoding(segment);
  return native;
}

function badEncoding(segment: string): StorageError {
  return new StorageError(
    'InvalidArgument',
    `not a canonical encoded name: ${JSON.stringify(segment)} (a name beginning with ${QUOTE} is ${QUOTE} + the percent-encoded native name, e.g. ${QUOTE}${encodeURIComponent('Cafe\u0301')}; a name that really begins with ${QUOTE} is written ${encodeSegment(`${QUOTE}x`)})`,
    { path: segment },
  );
}

/** Throws InvalidArgument unless every `‛` segment of a normalised path is canonical. */
export function checkEncodedSegments(path: StoragePath): void {
  if (!path.includes(QUOTE)) return;
  for (const segment of path.split('/')) decodeSegment(segment);
}

/** The native relative path (segments joined by `/`) of a Ferry path ('' stays ''). */
export function decodePath(path: StoragePath): string {
  if (path === '' || !path.includes(QUOTE)) return path;
  return path.split('/').map(decodeSegment).join('/');
}

/**
 * The Ferry path of a native relative path whose segments are separated by `/` (an S3 key below
 * the chroot prefix). '' stays ''; `a//b` becomes `a/‛/b`.
 */
export function encodePath(native: string): StoragePath {
  if (native === '') return '';
  // Most keys are printable ASCII, which is NFC and holds no control character or `‛`: such a
  // path is itself unless a segment is empty, `.` or `..` (a listing maps every key: ~8 % of
  // `ferry ls`'s CPU went to splitting and normalising them).
  if (PRINTABLE_ASCII.test(native) && !ODD_SEGMENT.test(native)) return native;
  return native.split('/').map(encodeSegment).join('/');
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** A segment that is empty (`a//b`, `/a`, `a/`), `.` or `..`. */
const ODD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;
