// The client-protocol translators: Claude-Code-like Anthropic requests and Codex-like Responses requests into
// chat completions, and chat completions (whole and streamed) back out. Everything sent back to a client is read
// by the real SDK the client uses (`@anthropic-ai/sdk`, `openai`), fed through a fetch that answers with the
// gateway's output, so a shape the SDK's parser or stream accumulator rejects fails here.
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { MessageCreateParams } from '@anthropic-ai/sdk/resources/messages';
import OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from 'openai/resources/chat/completions';
import type { ResponseCreateParams, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { anthropicToChat } from '../../gpu-node-agent/gateway/protocols/anthropic/request.js';
import { chatToAnthropic } from '../../gpu-node-agent/gateway/protocols/anthropic/response.js';
import { AnthropicStreamWriter } from '../../gpu-node-agent/gateway/protocols/anthropic/stream.js';
import {
  anthropicErrorBody,
  anthropicErrorType,
  openAiErrorBody,
} from '../../gpu-node-agent/gateway/protocols/error-envelopes.js';
import { geminiToChat } from '../../gpu-node-agent/gateway/protocols/gemini/request.js';
import { responsesToChat } from '../../gpu-node-agent/gateway/protocols/responses/request.js';
import { chatToResponses } from '../../gpu-node-agent/gateway/protocols/responses/response.js';
import { ResponsesStreamWriter } from '../../gpu-node-agent/gateway/protocols/responses/stream.js';
import { formatSse, type SseEvent } from '../../gpu-node-agent/gateway/protocols/sse.js';
import { estimatePromptTokens, estimateTokens } from '../../gpu-node-agent/gateway/protocols/tokens.js';
import { UnsupportedFieldError } from '../../shared/errors.js';

// ---- fixtures ----

const BASE_URL = 'http://gateway.test';

function answering(body: string, contentType: string): typeof fetch {
  return async () => new Response(body, { headers: { 'content-type': contentType } });
}

function sseBody(events: SseEvent[]): string {
  return events.map(formatSse).join('');
}

function anthropicClient(body: string, contentType = 'text/event-stream'): Anthropic {
  return new Anthropic({
    apiKey: 'x',
    baseURL: BASE_URL,
    maxRetries: 0,
    fetch: answering(body, contentType),
  });
}

function openAiClient(body: string, contentType = 'text/event-stream'): OpenAI {
  return new OpenAI({ apiKey: 'x', baseURL: BASE_URL, maxRetries: 0, fetch: answering(body, contentType) });
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function chunk(
  delta: ChatCompletionChunk.Choice.Delta,
  finishReason: ChatCompletionChunk.Choice['finish_reason'] = null,
): ChatCompletionChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_760_000_000,
    model: 'qwen3-coder',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

function usageChunk(prompt: number, completion: number, cached: number): ChatCompletionChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_760_000_000,
    model: 'qwen3-coder',
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
    },
  };
}

/** An upstream stream as vLLM sends one: text, then two tool calls whose arguments arrive in pieces. */
const TOOL_CALL_STREAM: ChatCompletionChunk[] = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Running ' }),
  chunk({ content: 'the tests.' }),
  chunk({
    tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'Bash', arguments: '' } }],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"command":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"npm test"}' } }] }),
  chunk({
    tool_calls: [
      { index: 1, id: 'call_2', type: 'function', function: { name: 'Read', arguments: '{"file_path":' } },
    ],
  }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: '"/repo/src/sum.ts"}' } }] }),
  chunk({}, 'tool_calls'),
  usageChunk(1200, 40, 1000),
];

function completion(
  message: Partial<ChatCompletion.Choice['message']>,
  finishReason = 'stop',
): ChatCompletion {
  return {
    id: 'chatcmpl-2',
    object: 'chat.completion',
    created: 1_760_000_000,
    model: 'qwen3-coder',
    choices: [
      {
        index: 0,
        finish_reason: finishReason as ChatCompletion.Choice['finish_reason'],
        logprobs: null,
        message: { role: 'assistant', content: null, refusal: null, ...message },
      },
    ],
    usage: {
      prompt_tokens: 900,
      completion_tokens: 60,
      total_tokens: 960,
      prompt_tokens_details: { cached_tokens: 512 },
      completion_tokens_details: { reasoning_tokens: 20 },
    },
  };
}

// ---- Anthropic Messages ----

const BASH_SCHEMA = {
  type: 'object' as const,
  properties: {
    command: { type: 'string', description: 'The command to execute' },
    timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
  },
  required: ['command'],
  additionalProperties: false,
  $schema: 'http://json-schema.org/draft-07/schema#',
};

const READ_SCHEMA = {
  type: 'object' as const,
  properties: { file_path: { type: 'string', description: 'The absolute path to the file to read' } },
  required: ['file_path'],
  additionalProperties: false,
};

const REMINDER =
  '<system-reminder>\nThis is a reminder that your todo list is currently empty.\n</system-reminder>';

/** What Claude Code sends mid-task: cached system blocks, its tools, thinking, and a tool_use -> tool_result turn. */
const claudeCodeRequest = {
  model: 'claude-sonnet-5',
  max_tokens: 32_000,
  stream: true,
  temperature: 1,
  metadata: { user_id: 'user_4f2a_account_9c1e_session_77b0' },
  thinking: { type: 'enabled', budget_tokens: 31_999 },
  system: [
    { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
    {
      type: 'text',
      text: 'You are an interactive CLI tool that helps users with software engineering tasks.',
      cache_control: { type: 'ephemeral' },
    },
  ],
  tools: [
    { name: 'Bash', description: 'Executes a given bash command.', input_schema: BASH_SCHEMA },
    { name: 'Read', description: 'Reads a file from the local filesystem.', input_schema: READ_SCHEMA },
    { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
  ],
  tool_choice: { type: 'auto' },
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: REMINDER },
        { type: 'text', text: 'Run the tests and fix what fails', cache_control: { type: 'ephemeral' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The tests come first.', signature: 'EqQBCkYIBxgCKkDk' },
        { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
        { type: 'text', text: "I'll run the test suite." },
        { type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'npm test', timeout: 120_000 } },
        { type: 'tool_use', id: 'toolu_01B', name: 'Read', input: { file_path: '/repo/src/sum.ts' } },
      ],
    },
    {
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: 'toolu_01A',
          content: 'FAIL src/sum.test.ts\n  expected 3, got 4',
          is_error: true,
        },
        {
          type: 'tool_result',
          tool_use_id: 'toolu_01B',
          content: [{ type: 'text', text: '     1\texport const sum = (a, b) => a + b + 1;' }],
          cache_control: { type: 'ephemeral' },
        },
        { type: 'text', text: 'Keep the fix minimal.' },
      ],
    },
  ],
} satisfies MessageCreateParams & { temperature: number };

describe('anthropicToChat', () => {
  it('translates a Claude Code turn: system blocks, tools, thinking, tool_use and tool_result', () => {
    expect(anthropicToChat(claudeCodeRequest)).toEqual({
      model: 'claude-sonnet-5',
      max_tokens: 32_000,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 1,
      reasoning_effort: 'high',
      tools: [
        {
          type: 'function',
          function: { name: 'Bash', description: 'Executes a given bash command.', parameters: BASH_SCHEMA },
        },
        {
          type: 'function',
          function: {
            name: 'Read',
            description: 'Reads a file from the local filesystem.',
            parameters: READ_SCHEMA,
          },
        },
      ],
      tool_choice: 'auto',
      messages: [
        {
          role: 'system',
          content:
            "You are Claude Code, Anthropic's official CLI for Claude.\n\nYou are an interactive CLI tool that helps users with software engineering tasks.",
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: REMINDER },
            { type: 'text', text: 'Run the tests and fix what fails' },
          ],
        },
        {
          role: 'assistant',
          content: "I'll run the test suite.",
          tool_calls: [
            {
              id: 'toolu_01A',
              type: 'function',
              function: { name: 'Bash', arguments: '{"command":"npm test","timeout":120000}' },
            },
            {
              id: 'toolu_01B',
              type: 'function',
              function: { name: 'Read', arguments: '{"file_path":"/repo/src/sum.ts"}' },
            },
          ],
        },
        {
          role: 'tool',
          tool_call_id: 'toolu_01A',
          content: 'Error: FAIL src/sum.test.ts\n  expected 3, got 4',
        },
        {
          role: 'tool',
          tool_call_id: 'toolu_01B',
          content: '     1\texport const sum = (a, b) => a + b + 1;',
        },
        { role: 'user', content: 'Keep the fix minimal.' },
      ],
    });
  });

  it('sends images a tool returned after the tool messages, ahead of the rest of the turn', () => {
    const chat = anthropicToChat({
      model: 'claude-sonnet-5',
      max_tokens: 1024,
      messages: [
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_img', name: 'Read', input: { file_path: '/repo/shot.png' } },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_img',
              content: [
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
              ],
            },
            { type: 'text', text: 'What does the screenshot show?' },
          ],
        },
      ],
    });
    expect(chat.messages.slice(1)).toEqual([
      {
        role: 'tool',
        tool_call_id: 'toolu_img',
        content: '[1 image(s) returned by this call follow in the next user message]',
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Images returned by tool call toolu_img:' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'text', text: 'What does the screenshot show?' },
        ],
      },
    ]);
  });

  it('maps tool_choice, parallel use, stop sequences and thinking budgets', () => {
    const base = {
      model: 'claude-haiku-4-5',
      max_tokens: 256,
      messages: [{ role: 'user' as const, content: 'hi' }],
      tools: [{ name: 'Bash', input_schema: BASH_SCHEMA }],
    };
    expect(
      anthropicToChat({ ...base, tool_choice: { type: 'any', disable_parallel_tool_use: true } }),
    ).toMatchObject({
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(anthropicToChat({ ...base, tool_choice: { type: 'tool', name: 'Bash' } }).tool_choice).toEqual({
      type: 'function',
      function: { name: 'Bash' },
    });
    expect(anthropicToChat({ ...base, tool_choice: { type: 'none' } }).tool_choice).toBe('none');
    expect(anthropicToChat({ ...base, stop_sequences: ['</answer>'] }).stop).toEqual(['</answer>']);
    const effort = (budget: number) =>
      anthropicToChat({ ...base, thinking: { type: 'enabled', budget_tokens: budget } }).reasoning_effort;
    expect([effort(4_000), effort(10_000), effort(31_999)]).toEqual(['low', 'medium', 'high']);
    expect(anthropicToChat({ ...base, thinking: { type: 'adaptive' } }).reasoning_effort).toBeUndefined();
    expect(anthropicToChat({ ...base, output_config: { effort: 'max' } }).reasoning_effort).toBe('max');
  });

  it('sends no tools or tool_choice when every tool is a server tool', () => {
    const chat = anthropicToChat({
      model: 'claude-sonnet-5',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'What is new in Node 24?' }],
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      tool_choice: { type: 'any' },
    });
    expect(chat).not.toHaveProperty('tools');
    expect(chat).not.toHaveProperty('tool_choice');
    expect(chat.stream).toBeUndefined();
  });

  it('refuses content it cannot carry, naming the block', () => {
    const request: MessageCreateParams = {
      model: 'claude-sonnet-5',
      max_tokens: 256,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_011' } }] },
      ],
    };
    const error = thrownBy(() => anthropicToChat(request));
    expect(error).toBeInstanceOf(UnsupportedFieldError);
    expect(error).toMatchObject({ field: 'messages[1].content[0].source', status: 400 });
  });
});

describe('chatToAnthropic', () => {
  it('answers in a shape the Anthropic SDK parses: text, tool_use, stop reason and cache-aware usage', async () => {
    const upstream = completion(
      {
        content: 'Fixing the off-by-one.',
        tool_calls: [
          {
            id: 'call_9',
            type: 'function',
            function: { name: 'Edit', arguments: '{"file_path":"/repo/src/sum.ts","old_string":"+ 1"}' },
          },
          { id: 'call_10', type: 'function', function: { name: 'Bash', arguments: '{"command": "npm te' } },
        ],
      },
      'tool_calls',
    );
    const body = JSON.stringify(chatToAnthropic(upstream, 'claude-sonnet-5'));
    const message = await anthropicClient(body, 'application/json').messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'fix it' }],
    });
    expect(message.id).toMatch(/^msg_/);
    expect(message.model).toBe('claude-sonnet-5');
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toMatchObject([
      { type: 'text', text: 'Fixing the off-by-one.' },
      {
        type: 'tool_use',
        id: 'call_9',
        name: 'Edit',
        input: { file_path: '/repo/src/sum.ts', old_string: '+ 1' },
      },
      // Truncated arguments are kept verbatim, not replaced by an empty input.
      { type: 'tool_use', id: 'call_10', name: 'Bash', input: { raw_arguments: '{"command": "npm te' } },
    ]);
    expect(message.usage).toMatchObject({
      input_tokens: 388,
      output_tokens: 60,
      cache_read_input_tokens: 512,
      cache_creation_input_tokens: 0,
      output_tokens_details: { thinking_tokens: 20 },
    });
  });

  it('maps finish reasons', () => {
    const stopOf = (finish: string) => chatToAnthropic(completion({ content: 'x' }, finish), 'm').stop_reason;
    expect(['stop', 'length', 'content_filter'].map(stopOf)).toEqual(['end_turn', 'max_tokens', 'refusal']);
    // An upstream that ends a tool-calling turn with `stop` still gets its tools run.
    const calls = [{ id: 'c', type: 'function' as const, function: { name: 'Bash', arguments: '{}' } }];
    expect(chatToAnthropic(completion({ tool_calls: calls }, 'stop'), 'm').stop_reason).toBe('tool_use');
  });
});

describe('AnthropicStreamWriter', () => {
  it('streams text and incremental tool calls that the SDK accumulates into the final message', async () => {
    const writer = new AnthropicStreamWriter('claude-sonnet-5', 1500);
    const events = [...TOOL_CALL_STREAM.flatMap((c) => writer.push(c)), ...writer.end()];
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);

    const stream = anthropicClient(sseBody(events)).messages.stream({
      model: 'claude-sonnet-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'run the tests' }],
    });
    const message = await stream.finalMessage();
    expect(message.model).toBe('claude-sonnet-5');
    expect(message.content).toMatchObject([
      { type: 'text', text: 'Running the tests.' },
      { type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'npm test' } },
      { type: 'tool_use', id: 'call_2', name: 'Read', input: { file_path: '/repo/src/sum.ts' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({
      input_tokens: 200,
      output_tokens: 40,
      cache_read_input_tokens: 1000,
    });
    expect(writer.stopReason).toBe('tool_use');
    expect(writer.usage.input_tokens).toBe(200);
  });

  it('holds a tool call back until its name arrives, then sends the arguments it had', async () => {
    const writer = new AnthropicStreamWriter('claude-sonnet-5', 10);
    const events = [
      ...writer.push(
        chunk({ tool_calls: [{ index: 0, id: 'call_x', function: { arguments: '{"pattern":' } }] }),
      ),
      ...writer.push(chunk({ tool_calls: [{ index: 0, function: { name: 'Grep', arguments: '"TODO"}' } }] })),
      ...writer.end(),
    ];
    const message = await anthropicClient(sseBody(events))
      .messages.stream({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'find' }] })
      .finalMessage();
    expect(message.content).toMatchObject([
      { type: 'tool_use', id: 'call_x', name: 'Grep', input: { pattern: 'TODO' } },
    ]);
  });

  it('reports estimates when the upstream sends no usage', async () => {
    const writer = new AnthropicStreamWriter('claude-sonnet-5', 777);
    const events = [...writer.push(chunk({ content: 'abcdefghi' }, 'stop')), ...writer.end()];
    const message = await anthropicClient(sseBody(events))
      .messages.stream({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({ input_tokens: 777, output_tokens: 3 });
  });

  it('cuts a stream with an error event the SDK raises with the gateway message', async () => {
    const writer = new AnthropicStreamWriter('claude-sonnet-5', 100);
    const events = [
      ...writer.push(chunk({ content: 'Half an ans' })),
      ...writer.fail('rate_limit_error', 'Token budget exhausted for project p-7'),
    ];
    expect(events.slice(-2).map((e) => e.event)).toEqual(['content_block_stop', 'error']);
    expect(writer.end()).toEqual([]);

    const stream = anthropicClient(sseBody(events)).messages.stream({
      model: 'claude-sonnet-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'go' }],
    });
    const error = await stream.finalMessage().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).message).toContain('Token budget exhausted for project p-7');
    expect((error as APIError).type).toBe('rate_limit_error');
  });
});

describe('Anthropic errors', () => {
  it('maps HTTP statuses to Anthropic error types and builds the error body', () => {
    const statuses = [400, 401, 403, 404, 413, 429, 500, 529, 502, 422];
    expect(statuses.map(anthropicErrorType)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found_error',
      'request_too_large',
      'rate_limit_error',
      'api_error',
      'overloaded_error',
      'api_error',
      'invalid_request_error',
    ]);
    expect(anthropicErrorBody('overloaded_error', 'Upstream busy')).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Upstream busy' },
    });
  });
});

// ---- OpenAI Responses ----

const SHELL_PARAMETERS = {
  type: 'object',
  properties: {
    command: { type: 'array', items: { type: 'string' }, description: 'The command to execute' },
    workdir: { type: 'string', description: 'The working directory to execute the command in' },
    timeout_ms: { type: 'number', description: 'The timeout for the command in milliseconds' },
  },
  required: ['command'],
  additionalProperties: false,
};

/** What Codex CLI sends mid-task: instructions, developer and user context, reasoning, calls and their outputs. */
const codexRequest: ResponseCreateParams = {
  model: 'gpt-5-codex',
  instructions: 'You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI.',
  input: [
    {
      type: 'message',
      role: 'developer',
      content: [
        { type: 'input_text', text: '<permissions instructions>workspace-write</permissions instructions>' },
      ],
    },
    {
      type: 'message',
      role: 'user',
      content: [
        { type: 'input_text', text: '<environment_context>\n  <cwd>/repo</cwd>\n</environment_context>' },
      ],
    },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'fix the failing test' }] },
    {
      type: 'reasoning',
      id: 'rs_1',
      summary: [{ type: 'summary_text', text: '**Running tests**' }],
      encrypted_content: 'gAAAAABo-opaque',
    },
    {
      type: 'message',
      role: 'assistant',
      id: 'msg_1',
      status: 'completed',
      content: [{ type: 'output_text', text: 'Running the tests first.', annotations: [] }],
    },
    {
      type: 'function_call',
      id: 'fc_1',
      call_id: 'call_A',
      name: 'shell',
      arguments: '{"command":["npm","test"],"workdir":"/repo"}',
    },
    {
      type: 'function_call',
      id: 'fc_2',
      call_id: 'call_B',
      name: 'shell',
      arguments: '{"command":["cat","src/sum.ts"]}',
    },
    { type: 'function_call_output', call_id: 'call_A', output: 'FAIL src/sum.test.ts\nexpected 3, got 4' },
    { type: 'function_call_output', call_id: 'call_B', output: 'export const sum = (a, b) => a + b + 1;' },
  ],
  tools: [
    {
      type: 'function',
      name: 'shell',
      description: 'Runs a shell command.',
      strict: false,
      parameters: SHELL_PARAMETERS,
    },
    { type: 'web_search' },
  ],
  tool_choice: 'auto',
  parallel_tool_calls: false,
  reasoning: { effort: 'medium', summary: 'auto' },
  store: false,
  stream: true,
  include: ['reasoning.encrypted_content'],
  prompt_cache_key: '0199a2b3-session',
};

describe('responsesToChat', () => {
  it('translates a Codex turn: instructions, developer context, merged function calls and their outputs', () => {
    const expected: ChatCompletionCreateParams = {
      model: 'gpt-5-codex',
      stream: true,
      stream_options: { include_usage: true },
      reasoning_effort: 'medium',
      tools: [
        {
          type: 'function',
          function: {
            name: 'shell',
            description: 'Runs a shell command.',
            parameters: SHELL_PARAMETERS,
            strict: false,
          },
        },
      ],
      tool_choice: 'auto',
      parallel_tool_calls: false,
      messages: [
        {
          role: 'system',
          content: 'You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI.',
        },
        { role: 'system', content: '<permissions instructions>workspace-write</permissions instructions>' },
        { role: 'user', content: '<environment_context>\n  <cwd>/repo</cwd>\n</environment_context>' },
        { role: 'user', content: 'fix the failing test' },
        {
          role: 'assistant',
          content: 'Running the tests first.',
          tool_calls: [
            {
              id: 'call_A',
              type: 'function',
              function: { name: 'shell', arguments: '{"command":["npm","test"],"workdir":"/repo"}' },
            },
            {
              id: 'call_B',
              type: 'function',
              function: { name: 'shell', arguments: '{"command":["cat","src/sum.ts"]}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_A', content: 'FAIL src/sum.test.ts\nexpected 3, got 4' },
        { role: 'tool', tool_call_id: 'call_B', content: 'export const sum = (a, b) => a + b + 1;' },
      ],
    };
    expect(responsesToChat(codexRequest)).toEqual(expected);
  });

  it('opens an assistant message for calls with no text before them, and carries tool images after the outputs', () => {
    const chat = responsesToChat({
      model: 'gpt-5-codex',
      input: [
        { role: 'user', content: 'look at the screenshot' },
        { type: 'function_call', call_id: 'call_V', name: 'view_image', arguments: '{"path":"shot.png"}' },
        {
          type: 'function_call_output',
          call_id: 'call_V',
          output: [
            { type: 'input_text', text: 'shot.png' },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'original' },
          ],
        },
      ],
      max_output_tokens: 4096,
      temperature: 0.2,
    });
    expect(chat).toEqual({
      model: 'gpt-5-codex',
      max_tokens: 4096,
      temperature: 0.2,
      messages: [
        { role: 'user', content: 'look at the screenshot' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_V',
              type: 'function',
              function: { name: 'view_image', arguments: '{"path":"shot.png"}' },
            },
          ],
        },
        {
          role: 'tool',
          tool_call_id: 'call_V',
          content: 'shot.png\n[1 image(s) returned by this call follow in the next user message]',
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Images returned by tool call call_V:' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
    });
  });

  it('refuses previous_response_id with a 400 naming the field', () => {
    const request: ResponseCreateParams = {
      model: 'gpt-5-codex',
      input: 'go on',
      previous_response_id: 'resp_1',
    };
    const error = thrownBy(() => responsesToChat(request));
    expect(error).toBeInstanceOf(UnsupportedFieldError);
    expect(error).toMatchObject({ field: 'previous_response_id', status: 400 });
  });

  it('refuses input items it cannot carry, naming the item', () => {
    const request: ResponseCreateParams = {
      model: 'gpt-5-codex',
      input: [{ type: 'item_reference', id: 'msg_stored' }],
    };
    expect(() => responsesToChat(request)).toThrow(/item_reference/);
  });
});

describe('chatToResponses', () => {
  it('answers in a shape the OpenAI SDK parses: message, function calls and usage', async () => {
    const upstream = completion(
      {
        content: 'Fixing it.',
        tool_calls: [
          {
            id: 'call_9',
            type: 'function',
            function: { name: 'shell', arguments: '{"command":["npm","test"]}' },
          },
        ],
      },
      'tool_calls',
    );
    const body = JSON.stringify(chatToResponses(upstream, 'gpt-5-codex'));
    const response = await openAiClient(body, 'application/json').responses.create({
      model: 'gpt-5-codex',
      input: 'fix it',
    });
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-5-codex' });
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('Fixing it.');
    expect(response.output).toMatchObject([
      {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Fixing it.', annotations: [] }],
      },
      {
        type: 'function_call',
        call_id: 'call_9',
        name: 'shell',
        arguments: '{"command":["npm","test"]}',
        status: 'completed',
      },
    ]);
    expect(response.output[1]?.id).toMatch(/^fc_/);
    expect(response.usage).toEqual({
      input_tokens: 900,
      input_tokens_details: { cached_tokens: 512, cache_write_tokens: 0 },
      output_tokens: 60,
      output_tokens_details: { reasoning_tokens: 20 },
      total_tokens: 960,
    });
  });

  it('marks a response cut at the token limit incomplete', () => {
    const response = chatToResponses(completion({ content: 'partial' }, 'length'), 'gpt-5-codex');
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });
});

async function readResponseStream(events: SseEvent[]) {
  const stream = openAiClient(sseBody(events)).responses.stream({ model: 'gpt-5-codex', input: 'fix it' });
  const argumentSnapshots: string[] = [];
  const textSnapshots: string[] = [];
  stream.on('response.function_call_arguments.delta', (e) => argumentSnapshots.push(e.snapshot));
  stream.on('response.output_text.delta', (e) => textSnapshots.push(e.snapshot));
  const received: ResponseStreamEvent[] = [];
  for await (const event of stream) received.push(event);
  return { received, final: await stream.finalResponse(), argumentSnapshots, textSnapshots };
}

describe('ResponsesStreamWriter', () => {
  it('streams text and function calls that the SDK accumulates, ending with usage', async () => {
    const writer = new ResponsesStreamWriter('gpt-5-codex');
    const events = [...writer.start(), ...TOOL_CALL_STREAM.flatMap((c) => writer.push(c)), ...writer.end()];
    expect(events.every((e) => e.event === JSON.parse(e.data).type)).toBe(true);

    const { received, final, argumentSnapshots, textSnapshots } = await readResponseStream(events);
    expect(received.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(received.map((e) => e.sequence_number)).toEqual(received.map((_, i) => i));
    // The SDK's accumulator rebuilt the same text and arguments from the deltas alone.
    expect(textSnapshots.at(-1)).toBe('Running the tests.');
    expect(argumentSnapshots).toContain('{"command":"npm test"}');
    expect(argumentSnapshots.at(-1)).toBe('{"file_path":"/repo/src/sum.ts"}');

    expect(final.status).toBe('completed');
    expect(final.output_text).toBe('Running the tests.');
    expect(final.output).toMatchObject([
      {
        type: 'message',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Running the tests.' }],
      },
      { type: 'function_call', call_id: 'call_1', name: 'Bash', arguments: '{"command":"npm test"}' },
      {
        type: 'function_call',
        call_id: 'call_2',
        name: 'Read',
        arguments: '{"file_path":"/repo/src/sum.ts"}',
      },
    ]);
    expect(final.usage).toEqual({
      input_tokens: 1200,
      input_tokens_details: { cached_tokens: 1000, cache_write_tokens: 0 },
      output_tokens: 40,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 1240,
    });
  });

  it('ends a stream cut at the token limit with response.incomplete', async () => {
    const writer = new ResponsesStreamWriter('gpt-5-codex', 50);
    const events = [...writer.push(chunk({ content: 'The answer is' }, 'length')), ...writer.end()];
    const { received, final } = await readResponseStream(events);
    expect(received.at(-1)?.type).toBe('response.incomplete');
    expect(final).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    });
    expect(final.usage).toMatchObject({ input_tokens: 50, output_tokens: 5 });
  });

  it('ends a cut stream with response.failed carrying the gateway message', async () => {
    const writer = new ResponsesStreamWriter('gpt-5-codex');
    const events = [
      ...writer.push(chunk({ content: 'Half an ans' })),
      ...writer.fail('insufficient_quota', 'Token budget exhausted for project p-7'),
    ];
    expect(writer.push(chunk({ content: 'more' }))).toEqual([]);
    const { received, final } = await readResponseStream(events);
    expect(received.at(-1)?.type).toBe('response.failed');
    expect(final.status).toBe('failed');
    expect(final.error).toEqual({
      code: 'insufficient_quota',
      message: 'Token budget exhausted for project p-7',
    });
    expect(final.output).toMatchObject([{ type: 'message', status: 'incomplete' }]);
  });

  it('builds the OpenAI error body', () => {
    expect(
      openAiErrorBody(
        'previous_response_id is not supported',
        'invalid_request_error',
        'previous_response_id',
      ),
    ).toEqual({
      error: {
        message: 'previous_response_id is not supported',
        type: 'invalid_request_error',
        param: 'previous_response_id',
        code: null,
      },
    });
  });
});

// ---- SSE and token estimates ----

describe('formatSse', () => {
  it('frames named events and splits multi-line data into data lines', () => {
    expect(formatSse({ event: 'ping', data: '{}' })).toBe('event: ping\ndata: {}\n\n');
    expect(formatSse({ data: 'a\nb' })).toBe('data: a\ndata: b\n\n');
  });
});

describe('token estimates', () => {
  // Reference counts from the o200k_base and cl100k_base tokenizers (both gave the same here).
  const ENGLISH =
    'The gateway estimates how many tokens a prompt will use before it sends the request upstream, so that a project whose budget is nearly spent is refused early instead of overshooting.';
  const CODE =
    'export function sum(values: number[]): number {\n  let total = 0;\n  for (const value of values) {\n    total += value;\n  }\n  return total;\n}\n';

  it('over-estimates typical English and code', () => {
    expect(estimateTokens(ENGLISH)).toBeGreaterThanOrEqual(34);
    expect(estimateTokens(CODE)).toBeGreaterThanOrEqual(37);
    expect(estimateTokens('')).toBe(0);
  });

  it('counts messages, tool calls and tool schemas, and images by a fixed cost rather than their bytes', () => {
    const text = estimatePromptTokens({ model: 'm', messages: [{ role: 'user', content: ENGLISH }] });
    expect(text).toBe(estimateTokens(ENGLISH) + 3 + 4);

    const chat = anthropicToChat(claudeCodeRequest);
    const withoutTools = estimatePromptTokens({ ...chat, tools: undefined });
    expect(estimatePromptTokens(chat)).toBeGreaterThan(
      withoutTools + estimateTokens(JSON.stringify(BASH_SCHEMA)),
    );
    expect(withoutTools).toBeGreaterThan(estimateTokens('{"command":"npm test","timeout":120000}'));

    const hugeImage = `data:image/png;base64,${'A'.repeat(3_000_000)}`;
    const image = estimatePromptTokens({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: hugeImage } }] }],
    });
    expect(image).toBe(2_000 + 3 + 4);
  });
});

describe('geminiToChat', () => {
  it('pairs function responses without ids to their calls, drops thoughts, and maps JSON output and tool choice', () => {
    const chat = geminiToChat({
      model: 'coder',
      stream: false,
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Read a.txt' }] },
        { role: 'model', parts: [{ text: 'thinking…', thought: true }] },
        { role: 'model', parts: [{ functionCall: { name: 'read_file', args: { path: 'a.txt' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'read_file', response: { output: 'hello' } } }] },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'read_file',
              parameters: { type: 'OBJECT', properties: { path: { type: 'STRING' } } },
            },
          ],
        },
        { googleSearch: {} },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['read_file'] } },
      generationConfig: {
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object', properties: { answer: { type: 'string' } } },
        maxOutputTokens: 50,
      },
    });
    expect(chat.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Read a.txt' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_2_0',
            type: 'function',
            function: { name: 'read_file', arguments: '{"path":"a.txt"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_2_0', content: 'hello' },
    ]);
    expect(chat.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'read_file',
          parameters: { type: 'object', properties: { path: { type: 'string' } } },
        },
      },
    ]);
    expect(chat).toMatchObject({
      tool_choice: { type: 'function', function: { name: 'read_file' } },
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'response',
          schema: { type: 'object', properties: { answer: { type: 'string' } } },
        },
      },
      max_tokens: 50,
    });
  });

  it('refuses a part it cannot carry, naming it', () => {
    const error = thrownBy(() =>
      geminiToChat({
        model: 'coder',
        stream: false,
        contents: [{ role: 'user', parts: [{ fileData: { fileUri: 'gs://x' } }] }],
      }),
    );
    expect(error).toBeInstanceOf(UnsupportedFieldError);
    expect((error as UnsupportedFieldError).field).toBe('contents[0].parts[0]');
  });
});
