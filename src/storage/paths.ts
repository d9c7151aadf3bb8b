import { StorageError } from './errors.js';
import { checkEncodedSegments } from './names.js';
import type { StoragePath } from './types.js';

// C0 controls, DEL and C1 controls: never part of a name a user meant.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Validate and normalise a user-supplied path into the form backends receive: NFC, segments
 * joined by `/`, no leading/trailing `/`, `//` collapsed, `.` dropped. A `..` segment, NUL or any
 * other control character is rejected with InvalidArgument rather than resolved, so no path can
 * climb out of a root or a chroot prefix. The root is `''`. A segment beginning with `‛` names a
 * native name paths cannot express (names.ts) and must be in its canonical encoded form.
 */
export function normalizePath(input: string): StoragePath {
  if (typeof input !== 'string') throw new StorageError('InvalidArgument', 'path must be a string');
  if (CONTROL.test(input)) {
    throw new StorageError('InvalidArgument', `path contains a control character: ${JSON.stringify(input)}`);
  }
  const segments: string[] = [];
  for (const segment of input.normalize('NFC').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      throw new StorageError('InvalidArgument', `path may not contain '..': ${input}`, { path: input });
    }
    segments.push(segment);
  }
  const path = segments.join('/');
  checkEncodedSegments(path);
  return path;
}

/** Parent of a normalised path ('' for top-level entries and for the root). */
export function parentOf(path: StoragePath): StoragePath {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Last segment of a normalised path. */
export function baseName(path: StoragePath): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Join normalised paths, skipping empty ones. */
export function joinPath(...parts: StoragePath[]): StoragePath {
  return parts.filter((p) => p !== '').join('/');
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: StoragePath, ancestor: StoragePath): boolean {
  return ancestor === '' || path === ancestor || path.startsWith(`${ancestor}/`);
}
