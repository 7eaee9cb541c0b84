// Where the egress tests' proxies write their logs: kept in memory and read back as records. These
// tests are about the proxy's decisions; the log's S3 path is exercised by the node-agent test.
import type { EgressRecord } from '../../shared/domain/egress.js';

export class MemoryWriter {
  readonly blobs = new Map<string, string>();
  async put(key: string, body: Uint8Array): Promise<void> {
    this.blobs.set(key, Buffer.from(body).toString('utf8'));
  }
  /** Every record written under keys starting with the prefix. */
  records(prefix: string): EgressRecord[] {
    return [...this.blobs]
      .filter(([key]) => key.startsWith(prefix))
      .flatMap(([, body]) =>
        body
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as EgressRecord),
      );
  }
}
