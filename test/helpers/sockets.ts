// The TCP sockets a process listens on, as the Linux kernel reports them (/proc/<pid>/net/tcp{,6}
// matched against the process's open file descriptors): where servers really listen, whatever their
// configuration says.
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface Listener {
  /** As the kernel has it: `0.0.0.0` or `::` for every interface. */
  address: string;
  port: number;
}

const LISTEN = '0A';

export async function listeningSockets(pid: number | 'self' = 'self'): Promise<Listener[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const listeners: Listener[] = [];
  for (const [file, decode] of [
    ['tcp', ipv4],
    ['tcp6', ipv6],
  ] as const) {
    const table = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of table.trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [hexAddress, hexPort] = fields[1]!.split(':') as [string, string];
      if (fields[3] === LISTEN && inodes.has(fields[9]!)) {
        listeners.push({ address: decode(hexAddress), port: Number.parseInt(hexPort, 16) });
      }
    }
  }
  return listeners.sort((a, b) => a.port - b.port);
}

/** The kernel writes an IPv4 address as one little-endian 32-bit word. */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/** And an IPv6 address as four such words. */
function ipv6(hex: string): string {
  const bytes = [0, 8, 16, 24].flatMap((word) => [6, 4, 2, 0].map((i) => hex.slice(word + i, word + i + 2)));
  const groups = [0, 2, 4, 6, 8, 10, 12, 14].map((i) =>
    Number.parseInt(bytes[i]! + bytes[i + 1]!, 16).toString(16),
  );
  const text = groups.join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(text);
  if (mapped) {
    const [high, low] = [Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16)];
    return `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return text;
}
