// The dashboard's browser code and styles (htmx, uPlot, client/main.js, client/dashboard.css), bundled
// by esbuild into one script and one stylesheet. The Lambda bundle carries them prebuilt (the CDK
// stack runs build-assets.ts after bundling the API function, see cdk/constructs/autovibe-function.ts);
// elsewhere they are built on the first request and kept in memory. Either way they are served from
// the API itself, so the dashboard needs no network beyond it (no CDN).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ClientAssets {
  js: string;
  css: string;
  /** Short hash of both, for cache-busting URLs: an asset URL always names the same bytes. */
  version: string;
}

/** The folder name beside the bundled handler that holds prebuilt assets. */
export const PREBUILT_DIR = 'dashboard-assets';
export const ASSET_FILES = { js: 'app.js', css: 'app.css' } as const;

const CLIENT_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'client', 'main.js');

/** Bundle the client with esbuild (minified, for browsers of the last few years). */
export async function buildClientAssets(): Promise<{ js: string; css: string }> {
  // Named through a variable so that bundling the API for Lambda leaves esbuild out: there the
  // assets are prebuilt and this function never runs.
  const esbuildModule = 'esbuild';
  const esbuild: typeof import('esbuild') = await import(esbuildModule);
  const result = await esbuild.build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2020'],
    outdir: 'out',
    entryNames: 'app',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const text = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
  return { js: text('.js'), css: text('.css') };
}

async function readPrebuilt(dir: string): Promise<{ js: string; css: string } | null> {
  try {
    const [js, css] = await Promise.all([
      readFile(join(dir, ASSET_FILES.js), 'utf8'),
      readFile(join(dir, ASSET_FILES.css), 'utf8'),
    ]);
    return { js, css };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

let loading: Promise<ClientAssets> | undefined;

/**
 * The assets: prebuilt ones from `dir` (by default the folder beside this module, which in the Lambda
 * bundle is the bundle's own folder) when they are there, else built now. Built once per process.
 */
export function clientAssets(dir = join(dirname(fileURLToPath(import.meta.url)), PREBUILT_DIR)) {
  loading ??= (async () => {
    const { js, css } = (await readPrebuilt(dir)) ?? (await buildClientAssets());
    const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12);
    return { js, css, version };
  })().catch((error) => {
    // A failed build is not kept: the next request tries again.
    loading = undefined;
    throw error;
  });
  return loading;
}
