// Identifiers and timestamps the gateway makes up for answers it writes in a client's protocol.
import { randomUUID } from 'node:crypto';

/** `msg_…`, `toolu_…`, `resp_…`: the provider's own id shapes, so clients that parse them are content. */
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
