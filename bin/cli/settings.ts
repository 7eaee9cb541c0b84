// Where the CLI finds the API and its key: flags, then environment, then the config file, then (for a
// local API) the admin key that `autovibe dev` saved in its data directory.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';
import { describeIssues } from '../../shared/validation.js';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from './defaults.js';

const ConfigFile = z.strictObject({ api_url: z.url().optional(), api_key: z.string().min(1).optional() });

export interface ClientSettings {
  apiUrl: string;
  apiKey?: string;
  /** Where the key came from, for error messages. */
  keySource: string;
  /** Every place a key was looked for, in order, for the error when none was found. */
  looked: string[];
}

export function configFilePath(env: NodeJS.ProcessEnv): string {
  return env.AUTOVIBE_CONFIG ?? join(homedir(), '.config', 'autovibe', 'config.json');
}

/** The control plane's URL from the environment: the CLI's name for it, or the node agent's. */
export function apiUrlFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  return env.AUTOVIBE_API_URL ?? env.AUTOVIBE_URL;
}

export function resolveClientSettings(
  flags: { apiUrl?: string; apiKey?: string; dataDir?: string },
  env: NodeJS.ProcessEnv,
): ClientSettings {
  const configFile = configFilePath(env);
  const file = readConfigFile(configFile);
  const apiUrl = (
    flags.apiUrl ??
    apiUrlFromEnv(env) ??
    file.api_url ??
    `http://127.0.0.1:${env.AUTOVIBE_PORT ?? DEFAULT_PORT}`
  ).replace(/\/+$/, '');
  const looked = ['--api-key', 'AUTOVIBE_API_KEY', `${configFile} (api_key)`];
  if (flags.apiKey) return { apiUrl, apiKey: flags.apiKey, keySource: '--api-key', looked };
  if (env.AUTOVIBE_API_KEY)
    return { apiUrl, apiKey: env.AUTOVIBE_API_KEY, keySource: 'AUTOVIBE_API_KEY', looked };
  if (file.api_key) return { apiUrl, apiKey: file.api_key, keySource: configFile, looked };
  if (isLoopback(apiUrl)) {
    const keyFile = resolve(flags.dataDir ?? env.AUTOVIBE_DATA_DIR ?? DEFAULT_DATA_DIR, 'admin.key');
    looked.push(keyFile);
    const key = readOptional(keyFile)?.trim();
    if (key) return { apiUrl, apiKey: key, keySource: keyFile, looked };
  }
  return { apiUrl, keySource: 'none', looked };
}

/** The settings, if they hold a key; else an error saying where it looked and what would help. */
export function requireApiKey(settings: ClientSettings): ClientSettings {
  if (settings.apiKey) return settings;
  const local = isLoopback(settings.apiUrl)
    ? ' For `autovibe dev` on this machine: pass --data-dir <dir> or set AUTOVIBE_DATA_DIR to its data directory (it saves admin.key there).'
    : '';
  throw new ConfigError(
    `No API key found for ${settings.apiUrl}. Looked in: ${settings.looked.join(', ')}.${local}`,
  );
}

function readConfigFile(path: string): z.infer<typeof ConfigFile> {
  const text = readOptional(path);
  if (text === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ConfigFile.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error.issues).map((d) => `${d.path}: ${d.problem}`);
    throw new Error(`${path}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}
