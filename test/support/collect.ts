import type { Readable } from 'node:stream';
import type { Entry, Storage } from '../../src/storage/types.js';

export async function readAll(stream: Readable | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export async function readText(storage: Storage, path: string): Promise<string> {
  return (await readAll(await storage.read(path))).toString('utf8');
}

export async function collect(entries: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of entries) out.push(e);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `path:type[:size]` for each entry, sorted: compact to assert on. */
export async function shape(entries: AsyncIterable<Entry>): Promise<string[]> {
  return (await collect(entries)).map((e) => (e.type === 'dir' ? `${e.path}/` : `${e.path}:${e.size}`));
}
