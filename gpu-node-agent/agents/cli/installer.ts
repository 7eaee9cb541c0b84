// Installs CLI agents from npm into a cache on the node, one directory per package and version, once:
// later attempts (and concurrent ones) reuse it. Install scripts are not run; recipes call the
// platform binary or the JavaScript entry directly. An install goes to a temporary directory that is
// renamed into place only when complete, so a crash never leaves a half-installed agent behind.
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentInstallError } from '../../../shared/errors.js';

const run = promisify(execFile);

/** How long one `npm install` may take (agents with native binaries weigh hundreds of MB). */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

export interface NpmPackage {
  name: string;
  version: string;
}

export function defaultAgentCache(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.AUTOVIBE_AGENT_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'autovibe', 'agents')
  );
}

export class AgentInstaller {
  private readonly installing = new Map<string, Promise<string>>();

  constructor(
    readonly cacheDir: string = defaultAgentCache(),
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** The directory holding node_modules/ of the package: installed now unless it already is. */
  install(pkg: NpmPackage): Promise<string> {
    const id = `${pkg.name}@${pkg.version}`;
    let pending = this.installing.get(id);
    if (!pending) {
      pending = this.installOnce(pkg).finally(() => this.installing.delete(id));
      this.installing.set(id, pending);
    }
    return pending;
  }

  private async installOnce(pkg: NpmPackage): Promise<string> {
    const dir = join(this.cacheDir, `${pkg.name.replace('/', '+')}@${pkg.version}`);
    if (await exists(join(dir, 'node_modules', pkg.name, 'package.json'))) return dir;
    const partial = `${dir}.partial-${process.pid}-${Date.now()}`;
    await mkdir(partial, { recursive: true });
    this.log(`installing ${pkg.name}@${pkg.version} into ${dir}`);
    const started = Date.now();
    try {
      await run(
        'npm',
        [
          'install',
          '--prefix',
          partial,
          '--no-save',
          '--no-audit',
          '--no-fund',
          '--ignore-scripts',
          '--omit=dev',
          `${pkg.name}@${pkg.version}`,
        ],
        { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      );
      await rename(partial, dir).catch(async (error) => {
        // Another process installed it meanwhile: theirs is as good as ours.
        if (!(await exists(join(dir, 'node_modules', pkg.name, 'package.json')))) throw error;
        await rm(partial, { recursive: true, force: true });
      });
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      const detail = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' ') ?? '';
      throw new AgentInstallError(
        `npm install ${pkg.name}@${pkg.version} failed: ${(error as Error).message.split('\n')[0]} ${detail}`,
      );
    }
    this.log(`installed ${pkg.name}@${pkg.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return dir;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
