import ipaddr from 'ipaddr.js';

/**
 * IP allow/deny lists of a user (model.ts: addresses or CIDR ranges). Denied ranges are checked
 * first; when `allowed` is not empty the address must be in it. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`, what a dual-stack socket reports) count as their IPv4 address. An address
 * that does not parse is refused whenever either list is set.
 */
export function addressAllowed(
  remote: string,
  allowed: readonly string[],
  denied: readonly string[],
): boolean {
  if (allowed.length === 0 && denied.length === 0) return true;
  const addr = parseAddress(remote);
  if (!addr) return false;
  if (denied.some((r) => inRange(addr, r))) return false;
  return allowed.length === 0 || allowed.some((r) => inRange(addr, r));
}

function parseAddress(remote: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // `1.2.3.4:5678` or `[::1]:22` as some servers report a peer.
  const host = remote.replace(/^\[([^\]]+)\](:\d+)?$/, '$1').replace(/^(\d+\.\d+\.\d+\.\d+):\d+$/, '$1');
  if (!ipaddr.isValid(host)) return undefined;
  const a = ipaddr.parse(host);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()
    ? (a as ipaddr.IPv6).toIPv4Address()
    : a;
}

function inRange(addr: ipaddr.IPv4 | ipaddr.IPv6, range: string): boolean {
  try {
    const [net, bits] = range.includes('/')
      ? ipaddr.parseCIDR(range)
      : ([ipaddr.parse(range), ipaddr.parse(range).kind() === 'ipv4' ? 32 : 128] as const);
    const n =
      net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress()
        ? (net as ipaddr.IPv6).toIPv4Address()
        : net;
    if (n.kind() !== addr.kind()) return false;
    const prefix = n === net ? bits : bits - 96;
    return addr.match([n, prefix] as never);
  } catch {
    return false;
  }
}
