import { isAbsolute } from 'node:path';
import { StorageError } from './errors.js';
import { checkModTime } from './handles.js';
import { isWithin, normalizePath } from './paths.js';
import { checkReadArgs } from './read-handle.js';
import {
  type Entry,
  hashAlgorithms,
  type ListOptions,
  type OpOptions,
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
 * An operation whose signal is already aborted rejects here, before the backend is asked.
 */
export function checkedStorage(inner: Storage): Storage {
  const n = normalizePath;
  const outer: Storage = {
    description: inner.description,
    features: inner.features,
    stat: async (path, options?: OpOptions) => {
      aborted(options);
      return inner.stat(n(path), options);
    },
    list: async function* (path, options?: ListOptions) {
      aborted(options);
      checkPaging(options);
      yield* inner.list(n(path), options);
    },
    read: async (path, options?: ReadOptions) => {
      aborted(options);
      checkRange(options);
      return inner.read(n(path), options);
    },
    write: async (path, body: WriteBody, options?: WriteOptions) => {
      aborted(options);
      const p = nonRoot(path, 'write');
      if (options?.mtime !== undefined) checkModTime(options.mtime, p);
      return inner.write(p, body, options);
    },
    remove: async (path, options?: OpOptions) => {
      aborted(options);
      return inner.remove(nonRoot(path, 'remove'), options);
    },
    mkdir: async (path, options?: OpOptions) => {
      aborted(options);
      return inner.mkdir(nonRoot(path, 'mkdir'), options);
    },
    rmdir: async (path, options?: OpOptions) => {
      aborted(options);
      return inner.rmdir(nonRoot(path, 'rmdir'), options);
    },
    openRead: async (path, options) => {
      aborted(options);
      return inner.openRead(n(path), options);
    },
    hash: async (path, algorithm, options?: OpOptions) => {
      aborted(options);
      if (!hashAlgorithms.includes(algorithm)) {
        throw new StorageError('NotSupported', `unknown hash algorithm: ${String(algorithm)}`);
      }
      return inner.hash(nonRoot(path, 'hash'), algorithm, options);
    },
    about: async (options?: OpOptions) => {
      aborted(options);
      return inner.about(options);
    },
  };
  if (inner.listBatches) {
    const listBatches = inner.listBatches.bind(inner);
    outer.listBatches = async function* (path, options?: ListOptions) {
      aborted(options);
      checkPaging(options);
      yield* listBatches(n(path), options);
    };
  }
  if (inner.copy) {
    const copy = inner.copy.bind(inner);
    outer.copy = async (from, to, options?: OpOptions): Promise<Entry> => {
      aborted(options);
      return copy(nonRoot(from, 'copy'), nonRoot(to, 'copy'), options);
    };
  }
  if (inner.copyFrom) {
    const copyFrom = inner.copyFrom.bind(inner);
    outer.copyFrom = async (source, from, to, options?: OpOptions) => {
      aborted(options);
      return copyFrom(source, nonRoot(from, 'copy'), nonRoot(to, 'copy'), options);
    };
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
    outer.rename = async (from, to, options?: OpOptions) => {
      aborted(options);
      const f = nonRoot(from, 'rename');
      const t = nonRoot(to, 'rename');
      if (f === t) return;
      if (isWithin(t, f)) {
        throw new StorageError('InvalidArgument', `cannot move /${f} into itself (/${t})`, { path: f });
      }
      return rename(f, t, options);
    };
  }
  if (inner.setModTime) {
    const setModTime = inner.setModTime.bind(inner);
    outer.setModTime = async (path, mtime, options?: OpOptions) => {
      aborted(options);
      const p = nonRoot(path, 'setModTime');
      checkModTime(mtime, p);
      return setModTime(p, mtime, options);
    };
  }
  if (inner.removeTree) {
    const removeTree = inner.removeTree.bind(inner);
    outer.removeTree = async (path, options?: OpOptions) => {
      aborted(options);
      return removeTree(nonRoot(path, 'remove'), options);
    };
  }
  if (inner.openWrite) {
    const openWrite = inner.openWrite.bind(inner);
    outer.openWrite = async (path, options) => {
      const p = nonRoot(path, 'write');
      if (options?.mtime !== undefined) checkModTime(options.mtime, p);
      return openWrite(p, options);
    };
  }
  if (inner.presign) {
    const presign = inner.presign.bind(inner);
    outer.presign = async (path, options) => presign(nonRoot(path, 'presign'), options);
  }
  if (inner.publicUrl) {
    const publicUrl = inner.publicUrl.bind(inner);
    outer.publicUrl = async (path) => publicUrl(nonRoot(path, 'publicUrl'));
  }
  if (inner.attributes) {
    const attributes = inner.attributes.bind(inner);
    outer.attributes = async (path, options?: OpOptions) => {
      aborted(options);
      return attributes(nonRoot(path, 'read the attributes of'), options);
    };
  }
  if (inner.updateAttributes) {
    const updateAttributes = inner.updateAttributes.bind(inner);
    outer.updateAttributes = async (path, changes, options?: OpOptions) => {
      aborted(options);
      return updateAttributes(nonRoot(path, 'change the attributes of'), changes, options);
    };
  }
  if (inner.close) outer.close = inner.close.bind(inner);
  Object.defineProperty(outer, WRAPPED, { value: inner });
  return outer;
}

function aborted(options?: { signal?: AbortSignal }): void {
  options?.signal?.throwIfAborted();
}

function nonRoot(path: string, op: string): string {
  const p = normalizePath(path);
  if (p === '') throw new StorageError('InvalidArgument', `cannot ${op} the root folder`, { path: p });
  return p;
}

function checkRange(options?: ReadOptions): void {
  if (!options) return;
  checkReadArgs(options.offset ?? 0, options.length ?? 0);
}

function checkPaging(options?: ListOptions): void {
  const limit = options?.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new StorageError('InvalidArgument', `limit must be a positive integer, got ${limit}`);
  }
}
