// The column types of each JSON Lines export, as Hugging Face `datasets` features, declared in the
// dataset card. Without them `datasets` infers each shard's types on its own and then refuses shards
// that disagree: `1` read as int64 in one and `0.65` as double in another, or a tool's arguments as a
// struct with other keys. Declared, every shard is cast to one schema: numbers that may be fractional
// are float64, and free-form JSON (tool arguments and definitions, `extra`) is `json`, read back as the
// object it was.

/** A feature as the card's YAML gives it (datasets 4+: `json` and `list`). */
export type Feature =
  | 'string'
  | 'int64'
  | 'float64'
  | 'bool'
  | 'json'
  | { list: Feature }
  | { struct: Record<string, Feature> };

const MESSAGE: Feature = {
  struct: {
    role: 'string',
    content: 'string',
    tool_calls: {
      list: {
        struct: {
          id: 'string',
          type: 'string',
          function: { struct: { name: 'string', arguments: 'string' } },
        },
      },
    },
    tool_call_id: 'string',
    name: 'string',
  },
};

const REWARD_PARTS: Feature = {
  struct: {
    test_pass: 'float64',
    compilation: 'float64',
    progress: 'float64',
    efficiency: 'float64',
    code_quality: 'float64',
  },
};

/** What the ATIF and ShareGPT rows carry beside the conversation (formats.ts `facts`). */
const FACTS: Record<string, Feature> = {
  trajectory_id: 'string',
  task_id: 'string',
  group_id: 'string',
  model: 'string',
  route: 'string',
  upstream_model: 'string',
  scaffold: 'string',
  reward: 'float64',
  reward_parts: REWARD_PARTS,
  verified: 'bool',
  quality_score: 'float64',
  diversity_score: 'float64',
};

const ATIF_STEP: Feature = {
  struct: {
    step_id: 'int64',
    timestamp: 'string',
    source: 'string',
    model_name: 'string',
    message: 'string',
    reasoning_content: 'string',
    tool_calls: {
      list: {
        struct: {
          tool_call_id: 'string',
          function_name: 'string',
          arguments: 'json',
          extra: 'json',
        },
      },
    },
    llm_call_count: 'int64',
    observation: {
      struct: { results: { list: { struct: { source_call_id: 'string', content: 'string' } } } },
    },
    metrics: {
      struct: {
        prompt_tokens: 'int64',
        completion_tokens: 'int64',
        cached_tokens: 'int64',
        cost_usd: 'float64',
        prompt_token_ids: { list: 'int64' },
        completion_token_ids: { list: 'int64' },
        logprobs: { list: 'float64' },
        extra: 'json',
      },
    },
    extra: 'json',
  },
};

/** The features of each JSON Lines format, by its name in an export request. */
export const JSON_FEATURES: Record<'atif' | 'sft' | 'sharegpt' | 'rollouts', Record<string, Feature>> = {
  atif: {
    schema_version: 'string',
    session_id: 'string',
    trajectory_id: 'string',
    agent: {
      struct: {
        name: 'string',
        version: 'string',
        model_name: 'string',
        tool_definitions: 'json',
        extra: 'json',
      },
    },
    steps: { list: ATIF_STEP },
    final_metrics: {
      struct: {
        total_prompt_tokens: 'int64',
        total_completion_tokens: 'int64',
        total_cached_tokens: 'int64',
        total_cost_usd: 'float64',
        total_steps: 'int64',
        extra: 'json',
      },
    },
    extra: 'json',
  },
  sft: { messages: { list: MESSAGE }, tools: 'json' },
  sharegpt: {
    id: 'string',
    system: 'string',
    tools: 'string',
    conversations: { list: { struct: { from: 'string', value: 'string' } } },
    ...FACTS,
  },
  rollouts: {
    turn: 'int64',
    prompt_ids: { list: 'int64' },
    completion_ids: { list: 'int64' },
    completion_mask: { list: 'int64' },
    completion_logprobs: { list: 'float64' },
    extends_previous: 'bool',
    ...FACTS,
  },
};

/** Features as the card's `dataset_info.features` YAML list. */
export function featuresYaml(fields: Record<string, Feature>): unknown[] {
  return Object.entries(fields).map(([name, feature]) => ({ name, ...yamlOf(feature) }));
}

function yamlOf(feature: Feature): Record<string, unknown> {
  if (typeof feature === 'string') return { dtype: feature };
  if ('list' in feature) {
    const inner = feature.list;
    if (typeof inner === 'string') return { list: inner };
    if ('struct' in inner) return { list: featuresYaml(inner.struct) };
    return { list: yamlOf(inner) };
  }
  return { struct: featuresYaml(feature.struct) };
}
