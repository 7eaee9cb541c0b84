// The single-file node agent (npm run bundle:agent) runs from outside the checkout, and its
// install-service writes a systemd unit with a restart policy and the secrets in an EnvironmentFile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

describe('the node agent bundle', () => {
  it('builds to one file that answers --help and installs its service', () => {
    execFileSync('npm', ['run', '-s', 'bundle:agent'], { cwd: root });
    const bundle = join(root, 'dist', 'autovibe-agent.mjs');
    const away = mkdtempSync(join(tmpdir(), 'autovibe-bundle-'));
    const help = execFileSync(process.execPath, [bundle, 'agent', '--help'], { cwd: away, encoding: 'utf8' });
    expect(help).toContain('Usage: autovibe agent [options]');
    const out = execFileSync(
      process.execPath,
      [
        bundle,
        'install-service',
        '-c',
        'node.yaml',
        '--dir',
        join(away, 'units'),
        '--secrets-file',
        join(away, 'agent.env'),
        '--exec',
        '/usr/bin/node /opt/autovibe-agent.mjs',
      ],
      { cwd: away, encoding: 'utf8' },
    );
    expect(out).toContain('autovibe-agent.service');
    const unit = readFileSync(join(away, 'units', 'autovibe-agent.service'), 'utf8');
    expect(unit).toContain(
      `ExecStart=/usr/bin/node /opt/autovibe-agent.mjs agent --config ${join(away, 'node.yaml')}`,
    );
    expect(unit).toContain(`EnvironmentFile=${join(away, 'agent.env')}`);
    expect(unit).toContain('Restart=on-failure');
    expect(statSync(join(away, 'agent.env')).mode & 0o777).toBe(0o600);
  }, 120_000);
});
