import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import { addressAllowed } from '../../session/address-rules.js';

/**
 * The PROXY protocol (HAProxy's spec, v1 text and v2 binary) in front of the SSH server: a load
 * balancer opens the TCP connection and first sends a header naming the real client, which then
 * becomes the session's `remote` (bans, IP lists, audit).
 *
 * - `off`: no header is looked for (a client's bytes go straight to SSH).
 * - `optional`: from a trusted source a header is read when one comes; a direct client works too.
 * - `required`: every connection must come from a trusted source and start with a header.
 * A header from a source outside `trusted` is refused in every mode but `off` (anyone could
 * otherwise claim any address). SSH clients speak first (`SSH-2.0-…`), so the first bytes tell
 * a header from a client.
 */
export type ProxyProtocolMode = 'off' | 'optional' | 'required';

export interface ProxyHeader {
  version: 1 | 2;
  /** The client's address; undefined for `PROXY UNKNOWN` / v2 LOCAL (health checks). */
  source?: string;
  sourcePort?: number;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** v1: at most 107 bytes with CRLF; v2: 16 + at most 216 address bytes (we accept up to 16+536). */
const V1_MAX = 107;
const V2_MAX = 16 + 536;

export class ProxyProtocolError extends Error {}

/**
 * Read the PROXY header from `socket` (when `mode` and the source allow one) and leave every
 * byte after it unread for SSH. Resolves to the header, or undefined when there was none
 * (optional mode). Rejects with ProxyProtocolError: an untrusted source sending a header (or
 * any source in required mode), a malformed header, no bytes within `timeoutMs`.
 */
export function readProxyHeader(
  socket: Socket,
  mode: ProxyProtocolMode,
  trusted: readonly string[],
  timeoutMs: number,
): Promise<ProxyHeader | undefined> {
  if (mode === 'off') return Promise.resolve(undefined);
  const fromTrusted = trusted.length > 0 && addressAllowed(socket.remoteAddress ?? '', trusted, []);
  if (mode === 'required' && !fromTrusted)
    return Promise.reject(new ProxyProtocolError('PROXY protocol required: source not trusted'));
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError('no PROXY header in time')), timeoutMs);
    const finish = (result: Error | { header?: ProxyHeader; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (result instanceof Error) return reject(result);
      if (result.rest.length > 0) socket.unshift(result.rest);
      resolve(result.header);
    };
    const onEnd = () => finish(new ProxyProtocolError('connection closed before the PROXY header'));
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const parsed = parseProxyHeader(buf);
      if (parsed === 'incomplete') return;
      if (parsed instanceof Error) return finish(parsed);
      if (parsed === 'none') {
        if (mode === 'required') return finish(new ProxyProtocolError('PROXY header required'));
        return finish({ rest: buf });
      }
      if (!fromTrusted) return finish(new ProxyProtocolError('PROXY header from an untrusted source'));
      finish({ header: parsed.header, rest: buf.subarray(parsed.length) });
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

/**
 * Parse a PROXY header at the start of `buf`: the header and its length, `none` when the bytes
 * cannot start one, `incomplete` when more bytes are needed, or a ProxyProtocolError.
 */
export function parseProxyHeader(
  buf: Buffer,
): { header: ProxyHeader; length: number } | 'none' | 'incomplete' | ProxyProtocolError {
  if (startsLike(buf, V2_SIGNATURE)) {
    if (buf.length < V2_SIGNATURE.length) return 'incomplete';
    return parseV2(buf);
  }
  if (startsLike(buf, V1_PREFIX)) {
    if (buf.length < V1_PREFIX.length) return 'incomplete';
    return parseV1(buf);
  }
  return 'none';
}

/** Whether `buf` agrees with `prefix` on their common length. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return n > 0 && buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): { header: ProxyHeader; length: number } | 'incomplete' | ProxyProtocolError {
  const end = buf.indexOf('\r\n');
  if (end < 0)
    return buf.length >= V1_MAX ? new ProxyProtocolError('PROXY v1 header too long') : 'incomplete';
  if (end + 2 > V1_MAX) return new ProxyProtocolError('PROXY v1 header too long');
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { header: { version: 1 }, length };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6'))
    return new ProxyProtocolError('malformed PROXY v1 header');
  const [, family, source = '', destination = '', sport = '', dport = ''] = parts;
  const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  const ipv6 = /^[0-9a-fA-F:.]+$/;
  const ok = (a: string) => (family === 'TCP4' ? ipv4.test(a) : ipv6.test(a) && a.includes(':'));
  const port = (p: string) => /^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535;
  if (!ok(source) || !ok(destination) || !port(sport) || !port(dport))
    return new ProxyProtocolError('malformed PROXY v1 header');
  return { header: { version: 1, source, sourcePort: Number(sport) }, length };
}

function parseV2(buf: Buffer): { header: ProxyHeader; length: number } | 'incomplete' | ProxyProtocolError {
  if (buf.length < 16) return 'incomplete';
  const verCmd = buf[12] as number;
  const family = buf[13] as number;
  const addrLength = buf.readUInt16BE(14);
  const length = 16 + addrLength;
  if (verCmd >> 4 !== 2) return new ProxyProtocolError('unsupported PROXY version');
  if (length > V2_MAX) return new ProxyProtocolError('PROXY v2 header too long');
  if (buf.length < length) return 'incomplete';
  const command = verCmd & 0x0f;
  if (command === 0) return { header: { version: 2 }, length }; // LOCAL: the balancer itself
  if (command !== 1) return new ProxyProtocolError('unsupported PROXY v2 command');
  const a = buf.subarray(16, length);
  switch (family) {
    case 0x11: // TCP over IPv4
    case 0x12: // UDP over IPv4
      if (a.length < 12) return new ProxyProtocolError('malformed PROXY v2 header');
      return {
        header: { version: 2, source: [...a.subarray(0, 4)].join('.'), sourcePort: a.readUInt16BE(8) },
        length,
      };
    case 0x21: // TCP over IPv6
    case 0x22: {
      if (a.length < 36) return new ProxyProtocolError('malformed PROXY v2 header');
      const source = ipaddr.fromByteArray([...a.subarray(0, 16)]).toString();
      return { header: { version: 2, source, sourcePort: a.readUInt16BE(32) }, length };
    }
    case 0x00: // UNSPEC
      return { header: { version: 2 }, length };
    default:
      return new ProxyProtocolError('unsupported PROXY v2 address family');
  }
}
