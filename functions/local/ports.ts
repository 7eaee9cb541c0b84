// The ports of the embedded stack (the API and each emulator), remembered in the data directory so a
// restart comes back where running node agents, and the attempts they run, still look for it. A port
// asked for explicitly is used as it is; otherwise the remembered one, when it is free, else any free
// one. A remembered port found taken is reported as a move: node agents re-register when the control
// plane's heartbeat answer tells them their queue or storage moved.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

export type PortName = 'api' | 'dynamodb' | 's3' | 'sqs';

/** A remembered port that was taken at start, and where the service listens instead. */
export interface PortMove {
  name: PortName;
  remembered: number;
  port: number;
  /** The file that remembers the ports. */
  file: string;
}

const Port = z.int().min(1).max(65_535);
const PortsFile = z.partialRecord(z.enum(['api', 'dynamodb', 's3', 'sqs']), Port);

export class RememberedPorts {
  readonly moves: PortMove[] = [];
  private readonly taken = new Map<PortName, number>();

  private constructor(
    readonly file: string,
    private readonly host: string,
    private readonly ports: Partial<Record<PortName, number>>,
  ) {}

  static async open(dataDir: string, host: string): Promise<RememberedPorts> {
    const file = join(dataDir, 'ports.json');
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (text === null) return new RememberedPorts(file, host, {});
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Refused below, like any other content that is not a ports object.
    }
    const parsed = PortsFile.safeParse(json);
    if (!parsed.success) {
      throw new ConfigError(
        `${file} is not what autovibe dev wrote there (a JSON object of ports: api, dynamodb, s3, sqs); remove it to pick new ports`,
      );
    }
    return new RememberedPorts(file, host, parsed.data);
  }

  /** What `name` should listen on: `asked` unless 0; else its remembered port if free; else 0 (any). */
  async choose(name: PortName, asked = 0): Promise<number> {
    if (asked !== 0) return asked;
    const remembered = this.ports[name];
    if (remembered === undefined) return 0;
    if (await isFree(this.host, remembered)) return remembered;
    this.taken.set(name, remembered);
    return 0;
  }

  /** Records where `name` listens now (kept for the next start); a taken port becomes a move. */
  async listening(name: PortName, port: number): Promise<void> {
    const remembered = this.taken.get(name);
    if (remembered !== undefined) this.moves.push({ name, remembered, port, file: this.file });
    if (this.ports[name] === port) return;
    this.ports[name] = port;
    // Written aside, then renamed: a start killed mid-write leaves the previous file whole.
    await writeFile(`${this.file}.tmp`, `${JSON.stringify(this.ports, null, 2)}\n`);
    await rename(`${this.file}.tmp`, this.file);
  }
}

/** A remembered port was taken: said loudly, since node agents running elsewhere must follow. */
export function warnMoved(move: PortMove, logger?: Logger): void {
  logger?.warn('port_taken', { ...move });
}

/**
 * Whether a listener can take `port` on `host` now. Checked just before the service listens; the
 * moment between is a race another process could win, after which the start fails with EADDRINUSE.
 */
function isFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(false) : reject(error),
    );
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}
