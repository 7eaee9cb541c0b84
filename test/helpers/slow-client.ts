// A client that sends part of an HTTP request over a raw socket and waits to see what the server does:
// how slow-header and slow-body clients look to a server, which no HTTP library will imitate.
import { connect } from 'node:net';

export interface Outcome {
  /** The first line of whatever the server answered (`HTTP/1.1 408 Request Timeout`), or ''. */
  statusLine: string;
  /** When the server closed the connection, after connecting. */
  closedAfterMs: number;
}

/**
 * Connects to `url`'s host and port, writes `parts` (one every `everyMs`, the first at once, then
 * nothing more), and resolves when the server closes the connection, or after `giveUpMs`
 * (closedAfterMs is then Infinity).
 */
export function sendPartly(url: string, parts: string[], everyMs = 0, giveUpMs = 10_000): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const started = Date.now();
    let received = '';
    const timers: NodeJS.Timeout[] = [];
    const finish = (closedAfterMs: number) => {
      for (const timer of timers) clearTimeout(timer);
      socket.destroy();
      resolve({ statusLine: received.split('\r\n')[0] ?? '', closedAfterMs });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    // A reset after the server's answer is a close like any other; 'close' follows it.
    socket.on('error', () => {});
    socket.on('close', () => finish(Date.now() - started));
    socket.on('connect', () => {
      parts.forEach((part, i) => {
        timers.push(setTimeout(() => socket.writable && socket.write(part), i * everyMs));
      });
      timers.push(setTimeout(() => finish(Number.POSITIVE_INFINITY), giveUpMs));
    });
  });
}
