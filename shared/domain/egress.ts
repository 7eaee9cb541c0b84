// The egress log: one record per request, refusal or tunnel a sandbox made through its node's egress
// proxy, as JSONL under the task's traffic-logs folder beside the gateway's LLM records (files named
// `egress-...`), refusals also under `security-events/{project}/{day}/`.
import { blobKey } from './blob-keys.js';

/** A body as logged: text when it decodes as UTF-8, else base64; cut at the proxy's cap. */
export interface LoggedBody {
  content_type: string | null;
  /** Bytes the body had in full. */
  size: number;
  encoding: 'utf8' | 'base64';
  data: string;
  truncated: boolean;
}

export interface EgressRecord {
  kind: 'egress';
  id: string;
  node_id: string;
  at: string;
  project_id: string;
  task_id: string;
  attempt: number;
  /** `request`: an HTTP exchange the proxy saw; `tunnel`: a CONNECT's bytes and duration; `refused`. */
  type: 'request' | 'tunnel' | 'refused';
  method: string;
  url: string;
  host: string;
  port: number;
  /** The TLS server name the client asked for inside the tunnel (null: plain HTTP or not yet known). */
  sni: string | null;
  /** The address the proxy resolved the host to and connected (or refused to connect) to. */
  address: string | null;
  decision: 'allowed' | 'denied';
  /** The allowlist entry, `logged`, or the class of refusal that decided. */
  rule: string;
  reason: string | null;
  status: number | null;
  request_headers: Record<string, string>;
  response_headers: Record<string, string>;
  request_body: LoggedBody | null;
  response_body: LoggedBody | null;
  request_bytes: number;
  response_bytes: number;
  timings: { total_ms: number; upstream_ms: number | null };
  /** The bandwidth limit applied to this sandbox's traffic, if any (resource_limits.network_mbps). */
  limit_mbps: number | null;
  error: string | null;
}

/** Egress files sit in the traffic folder; their names tell them apart from the gateway's. */
export const EGRESS_FILE_PREFIX = 'egress-';

export function securityEventsPrefix(projectId: string, day: Date): string {
  return `${blobKey('security-events', projectId, day)}/`;
}
