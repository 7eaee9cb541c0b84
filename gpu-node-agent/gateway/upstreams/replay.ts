// The replay provider serves recorded assistant turns from an ATIF trajectory instead of calling a
// model: the n-th agent step answers a request whose conversation already holds n - 1 assistant
// turns. It debugs scaffolds, pins regression tests, and runs the offline demo (`npm start` without a
// provider key). It keeps no state, so any number of tasks can replay the same file at once.
import { readFile } from 'node:fs/promises';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionMessageToolCall,
} from 'openai/resources/chat/completions';
import type { AtifDocument, AtifStep } from '../../../shared/domain/atif.js';
import { argumentsTextOf } from '../../../shared/domain/tool-args.js';
import { UpstreamError } from '../../../shared/errors.js';
import type { Provider } from './provider.js';

export class ReplayProvider implements Provider {
  readonly kind = 'replay' as const;
  readonly maxTries = 1;
  private turns: Promise<AtifStep[]> | null = null;

  constructor(
    readonly name: string,
    private readonly file: string,
  ) {}

  async complete(params: ChatCompletionCreateParams): Promise<ChatCompletion> {
    const step = await this.turnFor(params);
    const toolCalls = toolCallsOf(step);
    return {
      id: `replay-${step.step_id}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: params.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: step.message || null,
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
          logprobs: null,
        },
      ],
      usage: usageOf(step),
    };
  }

  async stream(params: ChatCompletionCreateParams): Promise<AsyncIterable<ChatCompletionChunk>> {
    const completion = await this.complete(params);
    return chunksOf(completion);
  }

  /** The recorded turn answering this conversation: one past the assistant turns it already holds. */
  private async turnFor(params: ChatCompletionCreateParams): Promise<AtifStep> {
    this.turns ??= loadTurns(this.file);
    const turns = await this.turns;
    const index = params.messages.filter((m) => m.role === 'assistant').length;
    const step = turns[index];
    if (!step) {
      throw new UpstreamError(
        `the recording ${this.file} has ${turns.length} agent turns; turn ${index + 1} was asked for`,
        400,
      );
    }
    return step;
  }
}

async function loadTurns(file: string): Promise<AtifStep[]> {
  let document: AtifDocument;
  try {
    document = JSON.parse(await readFile(file, 'utf8')) as AtifDocument;
  } catch (error) {
    throw new UpstreamError(`cannot read the recording ${file}: ${(error as Error).message}`, 500);
  }
  if (!Array.isArray(document.steps) || !String(document.schema_version).startsWith('ATIF-'))
    throw new UpstreamError(`${file} is not an ATIF trajectory (no schema_version or steps)`, 500);
  return document.steps.filter((step) => step.source === 'agent');
}

function toolCallsOf(step: AtifStep): ChatCompletionMessageToolCall[] {
  return (step.tool_calls ?? []).map((call) => ({
    id: call.tool_call_id,
    type: 'function',
    function: {
      name: call.function_name,
      arguments: argumentsTextOf(call),
    },
  }));
}

/** The recorded usage, so a replayed run is priced and budgeted like the run it repeats. */
function usageOf(step: AtifStep): NonNullable<ChatCompletion['usage']> {
  const prompt = step.metrics?.prompt_tokens ?? 0;
  const completion = step.metrics?.completion_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: step.metrics?.cached_tokens ?? 0 },
  };
}

/** The completion as a stream: role and text, each tool call whole, the finish, then usage. */
async function* chunksOf(completion: ChatCompletion): AsyncGenerator<ChatCompletionChunk> {
  const choice = completion.choices[0]!;
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
  };
  yield {
    ...base,
    choices: [
      { index: 0, delta: { role: 'assistant', content: choice.message.content ?? '' }, finish_reason: null },
    ],
  };
  for (const [index, call] of (choice.message.tool_calls ?? []).entries()) {
    if (call.type !== 'function') continue;
    yield {
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index, id: call.id, type: 'function', function: call.function }] },
          finish_reason: null,
        },
      ],
    };
  }
  yield { ...base, choices: [{ index: 0, delta: {}, finish_reason: choice.finish_reason }] };
  yield { ...base, choices: [], usage: completion.usage };
}
