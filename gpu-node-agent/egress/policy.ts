// Who may go where: the decision on a sandbox's outbound connection, made on the CONNECT target (or
// the absolute URL of a plain HTTP request), never on a Host header, and made twice: on the name
// (the task's allowlist, exact names and `*.` wildcards, IP literals only when listed) and on the
// address the proxy resolved it to (private, loopback, link-local and metadata ranges, this node and
// the control plane are refused whatever the allowlist says).
import { BlockList, isIP } from 'node:net';

export type EgressNetwork = 'allowlist' | 'logged';

export interface Decision {
  allowed: boolean;
  /** The rule that decided: an allowlist entry, `logged`, or the refusal's class. */
  rule: string;
  /** Why it was refused; null when allowed. */
  reason: string | null;
}

/** A connection's target as the client named it (CONNECT authority or absolute URL). */
export interface Target {
  /** Lower-case host name without a trailing dot, or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
}

/** Ranges no sandbox reaches through the proxy, whatever its allowlist says. */
const REFUSED_RANGES: ReadonlyArray<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified_address'],
  ['10.0.0.0', 8, 'ipv4', 'private_address'],
  ['100.64.0.0', 10, 'ipv4', 'private_address'],
  ['127.0.0.0', 8, 'ipv4', 'loopback_address'],
  ['169.254.0.0', 16, 'ipv4', 'metadata_or_link_local_address'],
  ['172.16.0.0', 12, 'ipv4', 'private_address'],
  ['192.0.0.0', 24, 'ipv4', 'private_address'],
  ['192.168.0.0', 16, 'ipv4', 'private_address'],
  ['198.18.0.0', 15, 'ipv4', 'private_address'],
  ['224.0.0.0', 4, 'ipv4', 'multicast_or_reserved_address'],
  ['240.0.0.0', 4, 'ipv4', 'multicast_or_reserved_address'],
  ['::', 128, 'ipv6', 'unspecified_address'],
  ['::1', 128, 'ipv6', 'loopback_address'],
  ['fc00::', 7, 'ipv6', 'private_address'],
  ['fe80::', 10, 'ipv6', 'metadata_or_link_local_address'],
  ['ff00::', 8, 'ipv6', 'multicast_or_reserved_address'],
];

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** `host:port` of a CONNECT line, or the authority of an absolute URL; null when malformed. */
export function parseAuthority(authority: string, defaultPort: number): Target | null {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(authority);
  const plain = /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  const match = bracketed ?? plain;
  if (!match?.[1]) return null;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return null;
  const host = match[1].toLowerCase().replace(/\.$/, '');
  if (bracketed && isIP(host) !== 6) return null;
  if (!isIP(host) && !HOSTNAME.test(host)) return null;
  return { host, port };
}

/** An allowlist entry's shape, checked where the task is validated and again here. */
export function isAllowlistEntry(entry: string): boolean {
  const name = entry.startsWith('*.') ? entry.slice(2) : entry;
  return isIP(entry) !== 0 || (HOSTNAME.test(name) && name.includes('.'));
}

/** The decision on the name: the task's network and allowlist. */
export function decideName(network: EgressNetwork, allowed: readonly string[], target: Target): Decision {
  if (network === 'logged') return { allowed: true, rule: 'logged', reason: null };
  const literal = isIP(target.host) !== 0;
  for (const entry of allowed) {
    const rule = entry.toLowerCase();
    if (rule === target.host) return { allowed: true, rule: entry, reason: null };
    if (!literal && rule.startsWith('*.') && target.host.endsWith(rule.slice(1)))
      return { allowed: true, rule: entry, reason: null };
  }
  return literal
    ? { allowed: false, rule: 'ip_literal', reason: `IP literal ${target.host} is not in the allowlist` }
    : { allowed: false, rule: 'allowlist', reason: `${target.host} is not in the allowlist` };
}

export interface AddressRules {
  /** Exact addresses refused (this node's interfaces, the control plane's addresses). */
  refusedAddresses: readonly string[];
  /** `address:port` pairs refused (the node's services, the control plane's endpoint). */
  refusedEndpoints: readonly string[];
  /** Test only: addresses treated as public although in a refused range (a local "internet"). */
  publicAddresses: readonly string[];
}

/** Decides on the address a name resolved to: the second decision, which no allowlist overrides. */
export class AddressPolicy {
  private readonly ranges = new Map<string, BlockList>();
  private readonly refused: Set<string>;
  private readonly endpoints: Set<string>;
  private readonly publicOnes: Set<string>;

  constructor(rules: AddressRules) {
    for (const [network, prefix, family, reason] of REFUSED_RANGES) {
      let list = this.ranges.get(reason);
      if (!list) {
        list = new BlockList();
        this.ranges.set(reason, list);
      }
      list.addSubnet(network, prefix, family);
    }
    this.refused = new Set(rules.refusedAddresses.map(normalize));
    this.endpoints = new Set(rules.refusedEndpoints.map((e) => e.toLowerCase()));
    this.publicOnes = new Set(rules.publicAddresses.map(normalize));
  }

  decide(address: string, port: number): Decision {
    const ip = normalize(address);
    if (this.endpoints.has(`${ip}:${port}`))
      return {
        allowed: false,
        rule: 'node_or_control_plane',
        reason: `${ip}:${port} is a service of this system`,
      };
    if (this.refused.has(ip))
      return { allowed: false, rule: 'node_or_control_plane', reason: `${ip} is an address of this system` };
    if (this.publicOnes.has(ip)) return { allowed: true, rule: 'address', reason: null };
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    for (const [reason, list] of this.ranges) {
      if (list.check(ip, family))
        return { allowed: false, rule: reason, reason: `${ip} is a ${reason.replaceAll('_', ' ')}` };
    }
    return { allowed: true, rule: 'address', reason: null };
  }
}

/**
 * An IPv6 address that carries an IPv4 one is checked as that IPv4 address, in whichever form it is
 * written (`::ffff:10.0.0.1`, `::ffff:a00:1`): IPv4-mapped and SIIT-translated (the kernel connects
 * those to the IPv4 address itself), IPv4-compatible, NAT64 (64:ff9b::/96, which a NAT64 gateway
 * forwards to the IPv4 address, private ones included) and 6to4 (2002::/16). Else the address itself.
 */
function normalize(address: string): string {
  const lower = address.toLowerCase();
  if (isIP(lower) !== 6) return lower;
  const words = ipv6Words(lower);
  const ipv4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  const [w0, w1, w2, , w4, w5, w6, w7] = words.map((w) => w ?? 0) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT), ::a.b.c.d (compatible; not :: nor ::1).
  if (zeros(0, 5) && w5 === 0xffff) return ipv4(w6, w7);
  if (zeros(0, 4) && w4 === 0xffff && w5 === 0) return ipv4(w6, w7);
  if (zeros(0, 6) && w6 !== 0) return ipv4(w6, w7);
  if (w0 === 0x64 && w1 === 0xff9b && zeros(2, 6)) return ipv4(w6, w7);
  if (w0 === 0x2002) return ipv4(w1, w2);
  return lower;
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted IPv4 part as its two words). */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part ? part.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const first = parse(head);
  const last = tail === undefined ? [] : parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}
