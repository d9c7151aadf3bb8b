import * as net from 'node:net';

/**
 * A TCP relay on loopback to `target` that can be told to go silent, as a store behind a network
 * that drops packets does (no reset, no FIN): `cut()` keeps every connection open and passes
 * nothing either way — data and the end of a stream alike — and accepts new connections that then
 * hear nothing. `heal()` resumes and delivers what was held; `resume()` resumes and drops it.
 */
export async function startSilentRelay(target: { host: string; port: number }) {
  let cut = false;
  const held: { to: net.Socket; chunk?: Buffer }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ port: target.port, host: target.host, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    const relay = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (cut) held.push({ to, chunk });
        else to.write(chunk);
      });
      // A stream's end is passed on like its data: not while cut.
      from.on('end', () => {
        if (cut) held.push({ to });
        else to.end();
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const flush = (deliver: boolean) => {
    cut = false;
    for (const h of held.splice(0)) {
      if (!deliver || h.to.destroyed) continue;
      if (h.chunk) h.to.write(h.chunk);
      else h.to.end();
    }
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Connections open now (both sides). */
    connections: () => sockets.size / 2,
    cut: () => {
      cut = true;
    },
    heal: () => flush(true),
    resume: () => flush(false),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** `url` with its port replaced by `port` (a relay's). */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/** A TCP server on loopback that accepts and never answers (a store that takes the request and says nothing). */
export async function startMuteServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
