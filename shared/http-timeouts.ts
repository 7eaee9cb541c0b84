// How long an HTTP server of ours waits for a client to send its request: the headers, then all of it,
// and how long an idle keep-alive connection stays open. Node's defaults (60 s for headers, 300 s for
// the whole request, looked at every 30 s) let a client that sends half a request hold a connection
// for over five minutes; ours are seconds, and Node looks every second. A request that runs out of
// time is answered 408 and its connection closed. The time a handler takes to answer is not bounded
// here: once a request is in, a slow answer (a streamed model call) takes as long as it needs.
import type { ServerOptions } from 'node:http';
import { z } from 'zod';
import { parseConfigOrThrow } from './validation.js';

export interface HttpTimeouts {
  headers_seconds: number;
  request_seconds: number;
  keep_alive_seconds: number;
}

/** The control-plane API: bodies of 256 KiB at most. */
export const API_TIMEOUTS: HttpTimeouts = { headers_seconds: 10, request_seconds: 30, keep_alive_seconds: 5 };

/**
 * A node's LLM gateway: bodies reach 64 MiB (whole conversations with images), which at 1 MiB/s
 * still arrive in 60 s; agents' HTTP clients keep connections alive between calls.
 */
export const GATEWAY_TIMEOUTS: HttpTimeouts = {
  headers_seconds: 10,
  request_seconds: 60,
  keep_alive_seconds: 75,
};

const Seconds = z.number().min(1).max(3600);

/** The settings as a config section: each one optional, defaulting to `defaults`'. */
export function httpTimeoutsSchema(defaults: HttpTimeouts) {
  return z
    .strictObject({
      headers_seconds: Seconds.default(defaults.headers_seconds),
      request_seconds: Seconds.default(defaults.request_seconds),
      keep_alive_seconds: Seconds.default(defaults.keep_alive_seconds),
    })
    .refine((t) => t.request_seconds >= t.headers_seconds, {
      path: ['request_seconds'],
      message: 'must be at least headers_seconds (the headers are part of the request)',
    })
    .default(defaults);
}

/** `autovibe dev`'s API timeouts from AUTOVIBE_HTTP_*_SECONDS, else API_TIMEOUTS. */
export function apiTimeoutsFromEnv(env: NodeJS.ProcessEnv): HttpTimeouts {
  const read = (name: string) => (env[name] === undefined ? undefined : Number(env[name]));
  const settings = {
    headers_seconds: read('AUTOVIBE_HTTP_HEADERS_TIMEOUT_SECONDS'),
    request_seconds: read('AUTOVIBE_HTTP_REQUEST_TIMEOUT_SECONDS'),
    keep_alive_seconds: read('AUTOVIBE_HTTP_KEEP_ALIVE_SECONDS'),
  };
  return parseConfigOrThrow(httpTimeoutsSchema(API_TIMEOUTS), settings, 'AUTOVIBE_HTTP_*_SECONDS');
}

/** The node:http server options that enforce `timeouts`. */
export function httpServerOptions(timeouts: HttpTimeouts): ServerOptions {
  return {
    headersTimeout: timeouts.headers_seconds * 1000,
    requestTimeout: timeouts.request_seconds * 1000,
    keepAliveTimeout: timeouts.keep_alive_seconds * 1000,
    connectionsCheckingInterval: 1000,
  };
}
