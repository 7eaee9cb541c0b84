// The request-rebuild check: every model call an attempt made, as the traffic log holds it, against
// the same call rebuilt from each export of its trajectory (ATIF, the SFT row, the Parquet row), both
// in canonical chat form (shared/domain/prompt.ts). Equal lists mean the exports hold exactly the
// messages and tools each call was sent.
import { modelRequestOf } from '../../gpu-node-agent/trajectory/from-traffic.js';
import type { AtifDocument } from '../../shared/domain/atif.js';
import { type ChatMessage, canonicalRequest, type ModelRequest } from '../../shared/domain/prompt.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import type { TrajectorySummary } from '../../shared/domain/trajectory-index.js';
import { modelRequestsOf } from '../../shared/export/conversation.js';
import { flatRowOf, SHARD_FORMATS } from '../../shared/export/formats.js';

/** The agent's model calls in the log (side calls without tools are not turns), in time order. */
export function loggedRequests(records: readonly TrafficRecord[]): string[] {
  return [...records]
    .filter((r) => r.outcome === 'ok')
    .sort((a, b) => a.at.localeCompare(b.at))
    .map((r) => modelRequestOf(r.protocol, r.request))
    .filter((r): r is ModelRequest => r !== null && r.tools.length > 0)
    .map(canonicalRequest);
}

/** One conversation's calls: before each assistant message, everything before it. */
function callsOf(messages: ChatMessage[], tools: ModelRequest['tools']): string[] {
  return messages.flatMap((m, i) =>
    m.role === 'assistant' ? [canonicalRequest({ messages: messages.slice(0, i), tools })] : [],
  );
}

/** The calls rebuilt from each export of the trajectory. */
export function rebuiltRequests(atif: AtifDocument): { atif: string[]; sft: string[]; parquet: string[] } {
  // Only the conversation matters here: the index facts are placeholders.
  const summary = { id: 'x', reward_parts: {}, total_tokens: 0, seed: 0 } as unknown as TrajectorySummary;
  const row = { summary, atif, diversity: null };
  const sft = JSON.parse(Buffer.from(SHARD_FORMATS.sft.write([row])).toString('utf8'));
  const flat = flatRowOf(row);
  const parquetMessages = (flat.messages as Record<string, string | null>[]).map(
    (m) =>
      ({
        role: m.role,
        content: m.content,
        ...(m.tool_calls ? { tool_calls: JSON.parse(m.tool_calls) } : {}),
        ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
      }) as ChatMessage,
  );
  return {
    atif: modelRequestsOf(atif).map(canonicalRequest),
    sft: callsOf(sft.messages, sft.tools),
    parquet: callsOf(parquetMessages, JSON.parse(flat.tools as string)),
  };
}

/** The calls an upstream received (chat form, as the gateway sends every upstream), those with tools. */
export function upstreamRequests(calls: readonly unknown[]): string[] {
  return calls
    .map((call) => modelRequestOf('chat', call))
    .filter((r): r is ModelRequest => r !== null && r.tools.length > 0)
    .map(canonicalRequest);
}
