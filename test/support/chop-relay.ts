import * as net from 'node:net';

/**
 * A TCP relay on loopback to `target` that cuts what the client sends into pieces of random sizes
 * (from one byte to ~100 KiB, many around an SSH packet's 32 KiB), each written on its own after
 * a short pause, so the server's socket reads end anywhere: SSH packets straddle two, three or
 * more reads, and an SSH packet's length field or MAC is split too. The server's replies pass
 * as they come. `seed` makes the cuts repeatable.
 */
export async function startChopRelay(target: { host: string; port: number }, seed = 1) {
  const random = mulberry32(seed);
  const sockets = new Set<net.Socket>();
  let pieces = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: target.port, host: target.host });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());

    let queue: Buffer[] = [];
    let queued = 0;
    let running = false;
    const pump = async () => {
      running = true;
      while (queued > 0 && !upstream.destroyed) {
        const all = queue.length === 1 ? queue[0]! : Buffer.concat(queue);
        const n = Math.min(all.length, pieceSize(random));
        // A copy: the piece is the only thing the server's read can see.
        upstream.write(Buffer.from(all.subarray(0, n)));
        pieces++;
        queue = n < all.length ? [all.subarray(n)] : [];
        queued -= n;
        if (queued < 256 * 1024) client.resume();
        // A pause between pieces: most arrive as reads of their own.
        if (random() < 0.5) await new Promise((r) => setImmediate(r));
        else await new Promise((r) => setTimeout(r, 1));
      }
      running = false;
    };
    client.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queued += chunk.length;
      if (queued > 1024 * 1024) client.pause();
      if (!running) void pump();
    });
    client.on('end', () => {
      const ending = () => (running ? setTimeout(ending, 5) : upstream.end());
      ending();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Pieces written to the server so far. */
    pieces: () => pieces,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Sizes: a few bytes, a few KiB, about one SSH packet (±), or up to ~100 KiB. */
function pieceSize(random: () => number): number {
  const r = random();
  if (r < 0.15) return 1 + Math.floor(random() * 40);
  if (r < 0.45) return 1 + Math.floor(random() * 8192);
  if (r < 0.8) return 32 * 1024 + Math.floor((random() - 0.5) * 600);
  return 1 + Math.floor(random() * 100_000);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
