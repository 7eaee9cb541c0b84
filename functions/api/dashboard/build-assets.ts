// Writes the dashboard's bundled client assets into a folder: `tsx build-assets.ts <dir>`. The CDK
// stack runs it after esbuild bundled the API function, so the Lambda serves prebuilt assets.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ASSET_FILES, buildClientAssets } from './assets.js';

const [dir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: tsx functions/api/dashboard/build-assets.ts <output folder>');
  process.exit(2);
}
const { js, css } = await buildClientAssets();
await mkdir(dir, { recursive: true });
await writeFile(join(dir, ASSET_FILES.js), js);
await writeFile(join(dir, ASSET_FILES.css), css);
