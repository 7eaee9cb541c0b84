// What Codex CLI 0.169.0 sends at its default model, through the Responses translation: its tools come in
// an `additional_tools` input item, grouped in namespaces, with a freeform `custom` tool (`exec`, a Lark
// grammar) among them. The fixture is a real request body, captured from the pinned Codex binary talking to
// a logging server (its second turn: the `exec` call and its output are in the history). Answers are read
// by the real `openai` SDK, fed through a fetch that answers with the gateway's output.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ResponseCreateParams, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { responsesToChat } from '../../gpu-node-agent/gateway/protocols/responses/request.js';
import { chatToResponses } from '../../gpu-node-agent/gateway/protocols/responses/response.js';
import { ResponsesStreamWriter } from '../../gpu-node-agent/gateway/protocols/responses/stream.js';
import { ResponsesToolset } from '../../gpu-node-agent/gateway/protocols/responses/tools.js';
import { formatSse, type SseEvent } from '../../gpu-node-agent/gateway/protocols/sse.js';
import { UnsupportedFieldError } from '../../shared/errors.js';

const CODEX_REQUEST: ResponseCreateParams = JSON.parse(
  readFileSync(new URL('../fixtures/codex-0.169.0-default-request.json', import.meta.url), 'utf8'),
);
const EXEC_INPUT =
  'await tools.apply_patch("*** Begin Patch\\n*** Add File: a.txt\\n+hello\\n*** End Patch\\n");';

function openAiClient(body: string, contentType: string): OpenAI {
  return new OpenAI({
    apiKey: 'x',
    baseURL: 'http://gateway.test',
    maxRetries: 0,
    fetch: async () => new Response(body, { headers: { 'content-type': contentType } }),
  });
}

function chunk(
  delta: ChatCompletionChunk.Choice.Delta,
  finish: 'tool_calls' | null = null,
): ChatCompletionChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_760_000_000,
    model: 'qwen3-coder',
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('responsesToChat on what Codex 0.169.0 sends at its default model', () => {
  const chat = responsesToChat(CODEX_REQUEST);
  const tool = (name: string) => chat.tools?.find((t) => t.type === 'function' && t.function.name === name);

  it('takes the tools of the additional_tools item, namespaced tools flattened to namespace__name', () => {
    const names = chat.tools!.map((t) => (t.type === 'function' ? t.function.name : t.type));
    expect(names).toEqual([
      'functions__exec',
      'functions__wait',
      'functions__request_user_input',
      'functions__request_user_input_async',
      'clock__sleep',
      'collaboration__followup_task',
      'collaboration__interrupt_agent',
      'collaboration__list_agents',
      'collaboration__send_message',
      'collaboration__spawn_agent',
      'collaboration__wait_agent',
    ]);
    // The namespace's description leads its tools' own, since chat has no place for it.
    const sleep = tool('clock__sleep')!;
    expect(sleep.type === 'function' && sleep.function.description).toMatch(/^.+\n\n.*sleep/is);
    expect(sleep.type === 'function' && sleep.function.parameters).toMatchObject({
      required: ['duration_ms'],
    });
  });

  it('offers the freeform exec tool as a function of one string, its Lark grammar told to the model', () => {
    const exec = tool('functions__exec')!;
    expect(exec.type).toBe('function');
    if (exec.type !== 'function') return;
    expect(exec.function.description).toMatch(/^Run JavaScript code/);
    expect(exec.function.parameters).toMatchObject({
      type: 'object',
      required: ['input'],
      additionalProperties: false,
      properties: { input: { type: 'string' } },
    });
    const input = (exec.function.parameters as any).properties.input.description as string;
    expect(input).toContain('lark grammar');
    expect(input).toContain('PRAGMA_LINE: /[ \\t]*\\/\\/ @exec:[^\\r\\n]*/');
  });

  it('carries the developer context, the exec call and its output in chat order', () => {
    const roles = chat.messages.map((m) => m.role);
    // additional_tools gives no message; four developer messages become system ones.
    expect(roles).toEqual(['system', 'system', 'system', 'system', 'user', 'user', 'assistant', 'tool']);
    const call = chat.messages[6]!;
    expect(call).toMatchObject({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'functions__exec' } }],
    });
    const args = (call as any).tool_calls[0].function.arguments;
    expect(JSON.parse(args)).toEqual({ input: expect.stringContaining('tools.apply_patch(') });
    expect(chat.messages[7]).toEqual({
      role: 'tool',
      tool_call_id: 'call_1',
      content: 'Script completed\nWall time 0.3 seconds\nOutput:\n\nok',
    });
  });

  it('keeps its settings that mean something upstream and accepts the rest', () => {
    expect(chat).toMatchObject({
      model: 'gpt-6.1-sol',
      stream: true,
      stream_options: { include_usage: true },
      tool_choice: 'auto',
      parallel_tool_calls: false,
      reasoning_effort: 'low',
    });
    for (const field of ['store', 'include', 'prompt_cache_key', 'text', 'client_metadata', 'reasoning']) {
      expect(chat).not.toHaveProperty(field);
    }
  });

  it('maps a tool_choice naming a custom or namespaced tool to its chat name', () => {
    const named = responsesToChat({ ...CODEX_REQUEST, tool_choice: { type: 'custom', name: 'exec' } });
    expect(named.tool_choice).toEqual({ type: 'function', function: { name: 'functions__exec' } });
    const allowed = responsesToChat({
      ...CODEX_REQUEST,
      tool_choice: {
        type: 'allowed_tools',
        mode: 'required',
        tools: [
          { type: 'function', name: 'sleep' },
          { type: 'custom', name: 'exec' },
        ],
      },
    });
    expect(allowed.tool_choice).toEqual({
      type: 'allowed_tools',
      allowed_tools: {
        mode: 'required',
        tools: [
          { type: 'function', function: { name: 'clock__sleep' } },
          { type: 'function', function: { name: 'functions__exec' } },
        ],
      },
    });
  });

  it('refuses two tools that would share a chat name, naming the second', () => {
    const error = thrownBy(() =>
      responsesToChat({
        model: 'm',
        input: 'x',
        tools: [
          { type: 'function', name: 'clock__sleep', parameters: null, strict: false },
          { type: 'namespace', name: 'clock', description: '', tools: [{ type: 'custom', name: 'sleep' }] },
        ],
      }),
    );
    expect(error).toBeInstanceOf(UnsupportedFieldError);
    expect(error).toMatchObject({ field: 'tools[1].tools[0].name' });
  });
});

describe('answers to Codex in the item types it offered the tools as', () => {
  const toolset = ResponsesToolset.of(CODEX_REQUEST);

  it('turns a whole completion into custom_tool_call and namespaced function_call items the SDK parses', async () => {
    const completion: ChatCompletion = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'qwen3-coder',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          logprobs: null,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: 'call_exec',
                type: 'function',
                function: {
                  name: 'functions__exec',
                  arguments: ResponsesToolset.customArguments(EXEC_INPUT),
                },
              },
              {
                id: 'call_sleep',
                type: 'function',
                function: { name: 'clock__sleep', arguments: '{"duration_ms":5}' },
              },
              // A tool Codex never offered goes back as a function call under the name the model used.
              { id: 'call_other', type: 'function', function: { name: 'shell', arguments: '{}' } },
            ],
          },
        },
      ],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    };
    const body = JSON.stringify(chatToResponses(completion, 'gpt-6.1-sol', toolset));
    const response = await openAiClient(body, 'application/json').responses.create({
      ...CODEX_REQUEST,
      stream: false,
    } as any);
    expect((response as OpenAI.Responses.Response).output).toEqual([
      {
        type: 'custom_tool_call',
        id: expect.stringMatching(/^ctc_/),
        call_id: 'call_exec',
        namespace: 'functions',
        name: 'exec',
        input: EXEC_INPUT,
        status: 'completed',
      },
      {
        type: 'function_call',
        id: expect.stringMatching(/^fc_/),
        call_id: 'call_sleep',
        namespace: 'clock',
        name: 'sleep',
        arguments: '{"duration_ms":5}',
        status: 'completed',
      },
      expect.objectContaining({ type: 'function_call', name: 'shell', call_id: 'call_other' }),
    ]);
  });

  it('takes raw text a model wrote for a freeform tool, without the wrapper, as its input', () => {
    expect(ResponsesToolset.customInput(EXEC_INPUT)).toBe(EXEC_INPUT);
    expect(ResponsesToolset.customInput('{"code":1}')).toBe('{"code":1}');
    expect(ResponsesToolset.customInput(ResponsesToolset.customArguments('{"a":1}'))).toBe('{"a":1}');
  });

  it('streams a custom tool call: added, its whole input once the arguments end, then done', async () => {
    const writer = new ResponsesStreamWriter('gpt-6.1-sol', 0, toolset);
    const args = ResponsesToolset.customArguments(EXEC_INPUT);
    const cut = Math.floor(args.length / 2);
    const chunks = [
      chunk({ content: 'Writing the file.' }),
      chunk({
        tool_calls: [
          {
            index: 0,
            id: 'call_exec',
            type: 'function',
            function: { name: 'functions__exec', arguments: '' },
          },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, cut) } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(cut) } }] }),
      chunk({
        tool_calls: [
          {
            index: 1,
            id: 'call_sleep',
            type: 'function',
            function: { name: 'clock__sleep', arguments: '{}' },
          },
        ],
      }),
      chunk({}, 'tool_calls'),
    ];
    const events: SseEvent[] = [...chunks.flatMap((c) => writer.push(c)), ...writer.end()];
    const stream = openAiClient(events.map(formatSse).join(''), 'text/event-stream').responses.stream(
      CODEX_REQUEST as any,
    );
    const received: ResponseStreamEvent[] = [];
    for await (const event of stream) received.push(event);
    expect(received.map((e) => e.sequence_number)).toEqual(received.map((_, i) => i));
    expect(received.map((e) => e.type).slice(8)).toEqual([
      'response.output_item.added',
      'response.custom_tool_call_input.delta',
      'response.custom_tool_call_input.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const added = received[8] as Extract<ResponseStreamEvent, { type: 'response.output_item.added' }>;
    expect(added.item).toMatchObject({ type: 'custom_tool_call', namespace: 'functions', name: 'exec' });
    const done = received[11] as Extract<ResponseStreamEvent, { type: 'response.output_item.done' }>;
    expect(done.item).toMatchObject({ type: 'custom_tool_call', input: EXEC_INPUT, status: 'completed' });
    const final = await stream.finalResponse();
    expect(final.output.map((o) => [o.type, (o as any).namespace, (o as any).name])).toEqual([
      ['message', undefined, undefined],
      ['custom_tool_call', 'functions', 'exec'],
      ['function_call', 'clock', 'sleep'],
    ]);
  });
});
