// The Agent Trajectory Interchange Format (ATIF v1.7), as autovibe writes it: the instruction as the
// user's step, then one agent step per model turn with its tool calls, their observations and the
// turn's metrics; on a local model's turn the metrics carry its token ids and logprobs (v1.3-v1.4's
// `completion_token_ids`, `prompt_token_ids` and `logprobs`), and the document names its trajectory
// (v1.7's `trajectory_id`). Written by the node agent, read back by the exporter and the replay
// provider, which also read documents written as v1.4 before (the same fields, fewer of them).

import type { ToolDefinition } from './prompt.js';

export const ATIF_SCHEMA_VERSION = 'ATIF-v1.7';

/** Versions found in stored trajectories: v1.4 before token ids were kept. */
export type AtifSchemaVersion = typeof ATIF_SCHEMA_VERSION | 'ATIF-v1.4';

export interface AtifToolCall {
  tool_call_id: string;
  function_name: string;
  /** An object (Harbor's `dict[str, Any]`); older documents may hold unparsable text as a string. */
  arguments: unknown;
  /** `raw_arguments`: the text the model wrote, where JSON of `arguments` is not it (shared/domain/tool-args.ts). */
  extra?: { raw_arguments?: string } & Record<string, unknown>;
}

export interface AtifStep {
  step_id: number;
  timestamp?: string;
  source: 'system' | 'user' | 'agent';
  model_name?: string;
  message: string;
  reasoning_content?: string;
  tool_calls?: AtifToolCall[];
  observation?: { results: { source_call_id?: string | null; content?: string }[] };
  /** The model calls the step wraps (one per agent step); v1.7 has it on the step, not in its metrics. */
  llm_call_count?: number;
  metrics?: {
    prompt_tokens: number;
    completion_tokens: number;
    cached_tokens: number;
    cost_usd: number;
    /** The tokens the model was given, the whole conversation so far as the chat template rendered it. */
    prompt_token_ids?: number[];
    completion_token_ids?: number[];
    /** One per completion token: `len(logprobs) == len(completion_token_ids)`. */
    logprobs?: number[];
    extra?: Record<string, unknown>;
  };
  extra?: Record<string, unknown>;
}

export interface AtifDocument {
  schema_version: AtifSchemaVersion;
  session_id: string;
  /** The trajectory's id (v1.7); absent in documents written as v1.4. */
  trajectory_id?: string;
  agent: {
    name: string;
    version: string;
    model_name?: string;
    /** The tools of the first model call, in OpenAI's function form; a step whose call had others keeps them in its `extra.tool_definitions`. */
    tool_definitions?: ToolDefinition[];
    extra?: Record<string, unknown>;
  };
  steps: AtifStep[];
  final_metrics: {
    total_prompt_tokens: number;
    total_completion_tokens: number;
    total_cached_tokens: number;
    total_cost_usd: number;
    total_steps: number;
    extra?: Record<string, unknown>;
  };
  extra?: Record<string, unknown>;
}
