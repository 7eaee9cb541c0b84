// A CLI agent's trajectory, rebuilt from its calls through the gateway (seed 004 §2.5: the traffic
// log is the record of what an installed agent did). Each call's response holds the agent's actions
// (tool calls, or a final message); the observation of a tool call is the tool result a later request
// sends back under the same id. Requests are read in the client's protocol — Anthropic Messages (Claude
// Code), OpenAI Responses (Codex), Gemini (Gemini CLI) or Chat Completions (most others) — and
// responses in the upstream's. Side calls without tools (titles, summaries) are not steps.
//
// Each request is read through the gateway's own translation into chat form, so every protocol
// yields the same canonical messages and tools; a turn's first step keeps what its request added
// (shared/domain/prompt.ts), and tool results are kept whole, as the model was sent them. A local
// model's token ids and logprobs go with the turn's first step too (shared/domain/turn-tokens.ts).

import type { MessageCreateParams } from '@anthropic-ai/sdk/resources/messages';
import type {
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ResponseCreateParams } from 'openai/resources/responses/responses';
import {
  type ChatMessage,
  type ModelRequest,
  PROMPT_KEY,
  promptDelta,
  type ToolDefinition,
  type TurnPrompt,
} from '../../shared/domain/prompt.js';
import { toolArgsOf } from '../../shared/domain/tool-args.js';
import type { ClientProtocol, TrafficRecord } from '../../shared/domain/traffic.js';
import type { Transition } from '../../shared/domain/trajectory.js';
import { TOKENS_KEY, turnTokensOf } from '../../shared/domain/turn-tokens.js';
import { anthropicToChat } from '../gateway/protocols/anthropic/request.js';
import { geminiToChat } from '../gateway/protocols/gemini/request.js';
import type { GeminiRequest } from '../gateway/protocols/gemini/types.js';
import { responsesToChat } from '../gateway/protocols/responses/request.js';
import { NOTHING_SPENT, type StepReport } from './recorder.js';

interface ToolCall {
  id: string;
  name: string;
  /** What the arguments parse to (an Anthropic or Gemini call's object as it came). */
  args: unknown;
  /** The arguments text as the model wrote it, where JSON of `args` is not it. */
  raw: string | null;
}

interface Turn {
  text: string;
  reasoning: string | null;
  calls: ToolCall[];
}

// Request and response bodies are other programs' JSON, read defensively field by field.
// biome-ignore lint/suspicious/noExplicitAny: foreign JSON, every access is guarded
type Json = Record<string, any>;
type ActionType = Transition['action']['action_type'];

/** The steps of one attempt, from its traffic records (in any order). */
export function stepsFromTraffic(records: readonly TrafficRecord[]): StepReport[] {
  const calls = [...records]
    .filter((r) => r.outcome === 'ok' && hasTools(r.request as Json))
    .sort((a, b) => a.at.localeCompare(b.at));
  const requests = calls.map((record) => modelRequestOf(record.protocol, record.request));
  const results = new Map<string, string>();
  for (const request of requests) {
    for (const message of request?.messages ?? [])
      if (message.role === 'tool' && message.tool_call_id) results.set(message.tool_call_id, message.content);
  }
  const steps: StepReport[] = [];
  let sent: ModelRequest | null = null;
  for (const [index, record] of calls.entries()) {
    const turn = turnOf(record.response as Json);
    const request = requests[index] ?? null;
    // A request the translation cannot read keeps no prompt, and the next one starts over.
    const prompt: TurnPrompt | null = request ? promptDelta(sent, request) : null;
    sent = request;
    const last = index === calls.length - 1;
    const tokens = turnTokensOf(record);
    const metrics = {
      model: record.model,
      prompt_tokens: record.usage.prompt_tokens,
      completion_tokens: record.usage.completion_tokens,
      cached_tokens: record.usage.cached_tokens,
      reasoning_tokens: record.usage.reasoning_tokens,
      cost_usd: record.cost_usd,
      latency_ms: record.timings.total_ms,
    };
    const actions =
      turn.calls.length > 0
        ? turn.calls.map((call) => ({
            action: {
              action_type: actionTypeOf(call.name),
              content: contentOf(call),
              tool_name: call.name,
              tool_args: call.args,
              tool_args_raw: call.raw,
              tool_call_id: call.id,
              reasoning: null as string | null,
            },
            observation: results.get(call.id) ?? null,
          }))
        : [
            {
              action: {
                action_type: 'message' as const,
                content: turn.text,
                tool_name: null,
                tool_args: null,
                tool_args_raw: null,
                tool_call_id: null,
                reasoning: null as string | null,
              },
              observation: null,
            },
          ];
    for (const [i, { action, observation }] of actions.entries()) {
      steps.push({
        timestamp: record.at,
        source: 'agent',
        state: {
          files: {},
          working_directory: '.',
          environment_variables: {},
          process_state: null,
          custom_state: null,
        },
        action: { ...action, reasoning: i === 0 ? turn.reasoning : null },
        // Whole: the agent already chose what its model is shown, and the training data is that.
        observation: { content: observation ?? '', exit_code: null, truncated: false },
        reward: 0,
        done: last && i === actions.length - 1,
        info: {
          ...(i === 0 ? metrics : { ...NOTHING_SPENT, model: metrics.model }),
          extra: {
            turn: index + 1,
            traffic_id: record.id,
            ...(i === 0 && turn.calls.length > 0 && turn.text ? { message: turn.text } : {}),
            ...(observation === null && action.tool_name ? { no_result: true } : {}),
            ...(i === 0 && prompt ? { [PROMPT_KEY]: prompt } : {}),
            ...(i === 0 && tokens ? { [TOKENS_KEY]: tokens } : {}),
          },
        },
      });
    }
  }
  return steps;
}

/**
 * Puts the run's file changes into the steps' state: each changed path goes to the last tool call
 * that names it (a write, an edit, a command mentioning the file; messages change nothing), else to
 * the last step. The
 * traffic shows what the agent asked for, not when a file changed, so this is the best attribution
 * it allows; every change lands on some step.
 */
export function withFileChanges(
  steps: StepReport[],
  changes: Record<string, StepReport['state']['files'][string]>,
): StepReport[] {
  const out = steps.map((step) => ({ ...step, state: { ...step.state, files: { ...step.state.files } } }));
  if (out.length === 0) return out;
  const mentions = out.map((step) =>
    step.action.tool_name ? `${step.action.content}\n${JSON.stringify(step.action.tool_args ?? '')}` : '',
  );
  for (const [path, state] of Object.entries(changes)) {
    let at = mentions.findLastIndex((text) => text.includes(path));
    if (at < 0) at = out.length - 1;
    out[at]!.state.files[path] = state;
  }
  return out;
}

function hasTools(request: Json): boolean {
  return Array.isArray(request?.tools) && request.tools.length > 0;
}

/**
 * A request as the model was sent it, in chat form: through the gateway's translation of the client's
 * protocol. Null when the translation refuses it (content chat cannot carry).
 */
export function modelRequestOf(protocol: ClientProtocol, request: unknown): ModelRequest | null {
  let chat: ChatCompletionCreateParams;
  try {
    chat =
      protocol === 'anthropic'
        ? anthropicToChat(request as MessageCreateParams)
        : protocol === 'responses'
          ? responsesToChat(request as ResponseCreateParams)
          : protocol === 'gemini'
            ? geminiToChat(request as GeminiRequest)
            : (request as ChatCompletionCreateParams);
  } catch {
    return null;
  }
  return {
    messages: (chat.messages ?? []).map(chatMessageOf),
    tools: (chat.tools ?? []) as ToolDefinition[],
  };
}

function chatMessageOf(message: ChatCompletionMessageParam): ChatMessage {
  const m = message as Json;
  const role = m.role === 'developer' ? 'system' : m.role;
  return {
    role,
    content: textOf(m.content),
    ...(Array.isArray(m.tool_calls) && m.tool_calls.length > 0
      ? {
          tool_calls: m.tool_calls.map((call: Json) => ({
            id: call.id,
            type: 'function' as const,
            function: { name: call.function?.name, arguments: call.function?.arguments ?? '' },
          })),
        }
      : {}),
    ...(typeof m.tool_call_id === 'string' ? { tool_call_id: m.tool_call_id } : {}),
  };
}

/**
 * What the model did in one response. The log keeps the upstream's answer (a chat completion when the
 * gateway translated the call, the Anthropic message when it passed one through), so the shape decides.
 */
function turnOf(response: Json): Turn {
  const turn: Turn = { text: '', reasoning: null, calls: [] };
  if (Array.isArray(response?.content)) {
    for (const block of response?.content ?? []) {
      if (block.type === 'text') turn.text += block.text;
      else if (block.type === 'thinking') turn.reasoning = (turn.reasoning ?? '') + block.thinking;
      else if (block.type === 'tool_use')
        turn.calls.push({ id: block.id, name: block.name, args: block.input ?? {}, raw: null });
    }
  } else if (Array.isArray(response?.output)) {
    for (const item of response.output) {
      if (item.type === 'message') turn.text += textOf(item.content);
      else if (item.type === 'reasoning') turn.reasoning = textOf(item.summary ?? item.content) || null;
      else if (item.type === 'function_call' || item.type === 'custom_tool_call')
        turn.calls.push({ id: item.call_id, name: item.name, ...argsOf(item.arguments ?? item.input) });
    }
  } else {
    const message = response?.choices?.[0]?.message ?? {};
    turn.text = textOf(message.content);
    turn.reasoning = message.reasoning_content ?? message.reasoning ?? null;
    for (const call of message.tool_calls ?? []) {
      turn.calls.push({ id: call.id, name: call.function?.name, ...argsOf(call.function?.arguments) });
    }
  }
  return turn;
}

const ACTION_TYPES: [RegExp, ActionType][] = [
  [
    /^(bash|shell|shell_command|exec_command|local_shell|run_shell_command|execute_bash)$/i,
    'execute_command',
  ],
  [/^(read|read_file|view|cat)$/i, 'read_file'],
  [/^(write|write_file|create_file)$/i, 'write_file'],
  [/^(edit|multiedit|edit_file|str_replace_editor|apply_patch|replace)$/i, 'edit_file'],
];

function actionTypeOf(tool: string): ActionType {
  return ACTION_TYPES.find(([pattern]) => pattern.test(tool))?.[1] ?? 'tool_call';
}

/** The action's main content: the command of a shell call, the path of a file call, else the arguments. */
function contentOf(call: ToolCall): string {
  const args = (call.args ?? {}) as Json;
  const command = args.command ?? args.cmd;
  if (Array.isArray(command)) return command.join(' ');
  if (typeof command === 'string') return command;
  const path = args.file_path ?? args.path;
  if (typeof path === 'string') return path;
  return call.raw ?? JSON.stringify(call.args ?? {});
}

/** Arguments as they came: text (kept as written, and parsed where it parses), or an object. */
function argsOf(raw: unknown): Pick<ToolCall, 'args' | 'raw'> {
  if (typeof raw !== 'string') return { args: raw ?? {}, raw: null };
  const { tool_args, tool_args_raw } = toolArgsOf(raw);
  return { args: tool_args, raw: tool_args_raw };
}

/** Text of a string, or of content blocks / parts ({text} or {type: 'text', text}). */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content == null ? '' : JSON.stringify(content);
  return content.map((part) => (typeof part === 'string' ? part : (part?.text ?? ''))).join('');
}
