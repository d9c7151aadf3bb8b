import { isAbsolute } from 'node:path';
import { StorageError } from './errors.js';
import { isWithin, normalizePath } from './paths.js';
import {
  type Entry,
  type ListOptions,
  type ReadOptions,
  type Storage,
  WRAPPED,
  type WriteBody,
  type WriteOptions,
} from './types.js';

/**
 * Wrap a backend so every path it receives is validated and normalised once, here (see
 * `normalizePath`), and the root can't be removed or renamed. Optional capabilities are passed
 * through only when the backend has them, so `if (storage.copy)` keeps meaning what it says.
 */
export function checkedStorage(inner: Storage): Storage {
  const n = normalizePath;
  const outer: Storage = {
    description: inner.description,
    stat: async (path) => inner.stat(n(path)),
    list: async function* (path, options?: ListOptions) {
      yield* inner.list(n(path), options);
    },
    read: async (path, options?: ReadOptions) => {
      checkRange(options);
      return inner.read(n(path), options);
    },
    write: async (path, body: WriteBody, options?: WriteOptions) =>
      inner.write(nonRoot(path, 'write'), body, options),
    remove: async (path) => inner.remove(nonRoot(path, 'remove')),
    mkdir: async (path) => inner.mkdir(nonRoot(path, 'mkdir')),
    rmdir: async (path) => inner.rmdir(nonRoot(path, 'rmdir')),
  };
  if (inner.copy) {
    const copy = inner.copy.bind(inner);
    outer.copy = async (from, to): Promise<Entry> => copy(nonRoot(from, 'copy'), nonRoot(to, 'copy'));
  }
  if (inner.copyFrom) {
    const copyFrom = inner.copyFrom.bind(inner);
    outer.copyFrom = async (source, from, to) => copyFrom(source, nonRoot(from, 'copy'), nonRoot(to, 'copy'));
  }
  if (inner.serverSideSource) {
    const serverSideSource = inner.serverSideSource.bind(inner);
    outer.serverSideSource = async (path) => serverSideSource(nonRoot(path, 'copy'));
  }
  if (inner.downloadTo) {
    const downloadTo = inner.downloadTo.bind(inner);
    outer.downloadTo = async (path, localFile, options) => {
      if (!isAbsolute(localFile)) {
        throw new StorageError('InvalidArgument', `not an absolute local path: ${localFile}`);
      }
      return downloadTo(nonRoot(path, 'read'), localFile, options);
    };
  }
  if (inner.abortUnfinishedWrites) {
    const abortUnfinishedWrites = inner.abortUnfinishedWrites.bind(inner);
    outer.abortUnfinishedWrites = async (path, options) => abortUnfinishedWrites(n(path), options);
  }
  if (inner.rename) {
    const rename = inner.rename.bind(inner);
    outer.rename = async (from, to) => {
      const f = nonRoot(from, 'rename');
      const t = nonRoot(to, 'rename');
      if (f === t) return;
      if (isWithin(t, f)) {
        throw new StorageError('InvalidArgument', `cannot move /${f} into itself (/${t})`, { path: f });
      }
      return rename(f, t);
    };
  }
  if (inner.setModTime) {
    const setModTime = inner.setModTime.bind(inner);
    outer.setModTime = async (path, mtime) => setModTime(nonRoot(path, 'setModTime'), mtime);
  }
  if (inner.removeTree) {
    const removeTree = inner.removeTree.bind(inner);
    outer.removeTree = async (path) => removeTree(nonRoot(path, 'remove'));
  }
  if (inner.close) outer.close = inner.close.bind(inner);
  Object.defineProperty(outer, WRAPPED, { value: inner });
  return outer;
}

function nonRoot(path: string, op: string): string {
  const p = normalizePath(path);
  if (p === '') throw new StorageError('InvalidArgument', `cannot ${op} the root folder`, { path: p });
  return p;
}

function checkRange(options?: ReadOptions): void {
  if (!options) return;
  const { offset, length } = options;
  for (const [name, v] of [
    ['offset', offset],
    ['length', length],
  ] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw new StorageError('InvalidArgument', `${name} must be a non-negative integer, got ${v}`);
    }
  }
}
