// The Agent Trajectory Interchange Format (ATIF v1.4), as autovibe writes it: the instruction as the
// user's step, then one agent step per model turn with its tool calls, their observations and the
// turn's metrics. Written by the node agent, read back by the exporter and the replay provider.

import type { ToolDefinition } from './prompt.js';

export const ATIF_SCHEMA_VERSION = 'ATIF-v1.4';

export interface AtifToolCall {
  tool_call_id: string;
  function_name: string;
  arguments: unknown;
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
  metrics?: {
    prompt_tokens: number;
    completion_tokens: number;
    cached_tokens: number;
    cost_usd: number;
    extra?: Record<string, unknown>;
  };
  extra?: Record<string, unknown>;
}

export interface AtifDocument {
  schema_version: typeof ATIF_SCHEMA_VERSION;
  session_id: string;
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
