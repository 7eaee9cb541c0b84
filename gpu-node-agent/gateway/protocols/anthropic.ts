// Translates between Anthropic Messages (what Claude Code speaks with ANTHROPIC_BASE_URL) and the gateway's
// canonical chat-completions form: requests in; messages, SSE streams and Anthropic-shaped error bodies out.
//
// Choices where the protocols do not line up:
// - Server tools and Anthropic-defined tools (web_search, bash_2025..., text_editor...) have no schema a chat
//   upstream could call, so they are left out of the request rather than failing it; custom tools pass.
// - Content the chat form cannot carry (file ids, URL documents, search results, server-tool blocks) is refused
//   with an UnsupportedFieldError naming the block, rather than silently changing what the model sees.
// - Thinking blocks are dropped: their signatures only mean something to Anthropic, and a different upstream
//   model can neither read nor needs another model's reasoning. Upstream reasoning is not streamed back.
// - cache_control is ignored: prompt caching is the upstream's business; cached tokens it reports come back as
//   cache_read_input_tokens.
import { randomUUID } from 'node:crypto';
import type {
  ContentBlock,
  ContentBlockParam,
  DocumentBlockParam,
  ImageBlockParam,
  Message,
  MessageCreateParams,
  MessageParam,
  RawMessageStreamEvent,
  StopReason,
  TextBlockParam,
  Tool,
  ToolChoice,
  ToolResultBlockParam,
  ToolUnion,
  Usage,
} from '@anthropic-ai/sdk/resources/messages';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { ReasoningEffort } from 'openai/resources/shared';
import { UnsupportedFieldError } from './responses.js';
import { type SseEvent, typedSse } from './sse.js';
import { tokensForBytes } from './tokens.js';

/** Anthropic's error type for each HTTP status the gateway answers with. */
export const ANTHROPIC_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export function anthropicErrorBody(
  type: string,
  message: string,
): { type: 'error'; error: { type: string; message: string } } {
  return { type: 'error', error: { type, message } };
}

// ---- request: Anthropic -> chat ----

/**
 * SDK 1.11 no longer types the sampling fields, but the wire API accepts them and Claude Code sends
 * `temperature`, so they are read from the body as sent.
 */
interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
}

/**
 * Extended-thinking budgets map onto reasoning effort by the thresholds Claude Code's own budgets fall between:
 * "think" asks for 4,000 tokens (low), "think hard" 10,000 (medium), "ultrathink" 31,999 (high).
 */
const EFFORT_BY_BUDGET: ReadonlyArray<[maxBudget: number, effort: ReasoningEffort]> = [
  [8_191, 'low'],
  [24_575, 'medium'],
  [Number.POSITIVE_INFINITY, 'high'],
];

export function anthropicToChat(body: MessageCreateParams): ChatCompletionCreateParams {
  const messages: ChatCompletionMessageParam[] = [];
  if (body.system) messages.push({ role: 'system', content: systemText(body.system) });
  body.messages.forEach((message, i) => {
    messages.push(...toChatMessages(message, `messages[${i}]`));
  });

  const req: Omit<ChatCompletionCreateParamsBase, 'stream'> = {
    model: body.model,
    messages,
    max_tokens: body.max_tokens,
  };
  const tools = (body.tools ?? []).filter(isCustomTool).map(toChatTool);
  if (tools.length > 0) {
    req.tools = tools;
    Object.assign(req, toChatToolChoice(body.tool_choice));
  }
  const { temperature, top_p } = body as MessageCreateParams & SamplingFields;
  if (temperature != null) req.temperature = temperature;
  if (top_p != null) req.top_p = top_p;
  if (body.stop_sequences?.length) req.stop = body.stop_sequences;
  const effort = reasoningEffort(body);
  if (effort) req.reasoning_effort = effort;
  // Usage arrives in a final chunk only when asked for; the gateway prices every stream from it.
  return body.stream ? { ...req, stream: true, stream_options: { include_usage: true } } : req;
}

function systemText(system: string | TextBlockParam[]): string {
  return typeof system === 'string' ? system : system.map((block) => block.text).join('\n\n');
}

function toChatMessages(message: MessageParam, path: string): ChatCompletionMessageParam[] {
  if (message.role === 'system') return [{ role: 'system', content: systemText(message.content) }];
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  return message.role === 'assistant'
    ? [toAssistantMessage(message.content, path)]
    : toUserMessages(message.content, path);
}

function toAssistantMessage(blocks: ContentBlockParam[], path: string): ChatCompletionMessageParam {
  const texts: string[] = [];
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = [];
  blocks.forEach((block, j) => {
    switch (block.type) {
      case 'text':
        texts.push(block.text);
        return;
      case 'tool_use':
        toolCalls.push({
          id: block.id,
          type: 'function',
          function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
        });
        return;
      case 'thinking':
      case 'redacted_thinking':
        return;
      default:
        throw unsupportedBlock(block, `${path}.content[${j}]`);
    }
  });
  const text = texts.join('\n\n');
  if (toolCalls.length === 0) return { role: 'assistant', content: text };
  return { role: 'assistant', content: text || null, tool_calls: toolCalls };
}

/**
 * Chat wants each tool result as a `tool` message right after the assistant's calls, so a user turn's
 * tool_result blocks come first, in order, and whatever else the turn holds follows as one user message.
 * Images a tool returned cannot ride in a tool message; they lead that user message instead.
 */
function toUserMessages(blocks: ContentBlockParam[], path: string): ChatCompletionMessageParam[] {
  const toolMessages: ChatCompletionMessageParam[] = [];
  const toolImages: ChatCompletionContentPart[] = [];
  const parts: ChatCompletionContentPart[] = [];
  blocks.forEach((block, j) => {
    const blockPath = `${path}.content[${j}]`;
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: block.text });
        return;
      case 'image':
        parts.push(toImagePart(block, blockPath));
        return;
      case 'document':
        parts.push(toDocumentPart(block, blockPath));
        return;
      case 'tool_result': {
        const result = toToolMessage(block, blockPath);
        toolMessages.push(result.message);
        toolImages.push(...result.images);
        return;
      }
      case 'thinking':
      case 'redacted_thinking':
        return;
      default:
        throw unsupportedBlock(block, blockPath);
    }
  });
  const content = [...toolImages, ...parts];
  if (content.length === 0) return toolMessages;
  const only = content[0];
  const user: ChatCompletionMessageParam =
    content.length === 1 && only?.type === 'text'
      ? { role: 'user', content: only.text }
      : { role: 'user', content };
  return [...toolMessages, user];
}

function toToolMessage(
  block: ToolResultBlockParam,
  path: string,
): { message: ChatCompletionMessageParam; images: ChatCompletionContentPart[] } {
  const texts: string[] = [];
  const images: ChatCompletionContentPart[] = [];
  if (typeof block.content === 'string') texts.push(block.content);
  else {
    (block.content ?? []).forEach((part, k) => {
      const partPath = `${path}.content[${k}]`;
      if (part.type === 'text') texts.push(part.text);
      else if (part.type === 'image') images.push(toImagePart(part, partPath));
      else throw unsupportedBlock(part, partPath);
    });
  }
  if (images.length > 0) {
    texts.push(`[${images.length} image(s) returned by this call follow in the next user message]`);
    images.unshift({ type: 'text', text: `Images returned by tool call ${block.tool_use_id}:` });
  }
  // Chat has no error flag on tool results; the model still has to know the call failed.
  const text = texts.join('\n');
  const content = block.is_error ? `Error: ${text}` : text;
  return { message: { role: 'tool', tool_call_id: block.tool_use_id, content }, images };
}

function toImagePart(block: ImageBlockParam, path: string): ChatCompletionContentPart {
  const { source } = block;
  if (source.type === 'base64') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (source.type === 'url') return { type: 'image_url', image_url: { url: source.url } };
  throw new UnsupportedFieldError(`${path}.source`, `image source '${source.type}' is not supported`);
}

function toDocumentPart(block: DocumentBlockParam, path: string): ChatCompletionContentPart {
  const { source } = block;
  if (source.type === 'text') return { type: 'text', text: source.data };
  if (source.type === 'base64') {
    return {
      type: 'file',
      file: {
        file_data: `data:${source.media_type};base64,${source.data}`,
        filename: block.title ?? 'document.pdf',
      },
    };
  }
  throw new UnsupportedFieldError(`${path}.source`, `document source '${source.type}' is not supported`);
}

function unsupportedBlock(block: { type: string }, path: string): UnsupportedFieldError {
  return new UnsupportedFieldError(path, `content block type '${block.type}' is not supported`);
}

function isCustomTool(tool: ToolUnion): tool is Tool {
  return 'input_schema' in tool && (tool.type == null || tool.type === 'custom');
}

function toChatTool(tool: Tool): ChatCompletionTool {
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description != null && { description: tool.description }),
      parameters: tool.input_schema,
      ...(tool.strict != null && { strict: tool.strict }),
    },
  };
}

function toChatToolChoice(
  choice: ToolChoice | undefined,
): Pick<ChatCompletionCreateParamsBase, 'tool_choice' | 'parallel_tool_calls'> {
  if (!choice) return {};
  const parallel = 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use;
  const out: Pick<ChatCompletionCreateParamsBase, 'tool_choice' | 'parallel_tool_calls'> = parallel
    ? { parallel_tool_calls: false }
    : {};
  switch (choice.type) {
    case 'auto':
      return { ...out, tool_choice: 'auto' };
    case 'any':
      return { ...out, tool_choice: 'required' };
    case 'tool':
      return { ...out, tool_choice: { type: 'function', function: { name: choice.name } } };
    case 'none':
      return { ...out, tool_choice: 'none' };
  }
}

/**
 * An explicit `output_config.effort` wins; otherwise an enabled thinking budget is bucketed. Adaptive or
 * disabled thinking sends no effort, leaving the upstream's default rather than forcing reasoning off.
 */
function reasoningEffort(body: MessageCreateParams): ReasoningEffort | undefined {
  if (body.output_config?.effort) return body.output_config.effort;
  if (body.thinking?.type !== 'enabled') return undefined;
  const budget = body.thinking.budget_tokens;
  return EFFORT_BY_BUDGET.find(([max]) => budget <= max)?.[1];
}

// ---- response: chat -> Anthropic ----

type FinishReason = ChatCompletion.Choice['finish_reason'] | null | undefined;

export function chatToAnthropic(res: ChatCompletion, model: string): Message {
  const choice = res.choices[0];
  const message = choice?.message;
  const content: ContentBlock[] = [];
  const text = (message?.content ?? '') + (message?.refusal ?? '');
  if (text) content.push({ type: 'text', text, citations: null });
  for (const call of message?.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    content.push({
      type: 'tool_use',
      id: call.id || newId('toolu'),
      name: call.function.name,
      input: parseToolInput(call.function.arguments),
      caller: { type: 'direct' },
    });
  }
  const hasToolUse = content.some((block) => block.type === 'tool_use');
  return {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: toStopReason(choice?.finish_reason, hasToolUse),
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: toUsage(res.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }),
  };
}

/**
 * Anthropic tool input must be an object. Arguments that do not parse to one are kept verbatim under
 * `raw_arguments` rather than dropped: the client's tool then fails validation with the model's actual output in
 * view, and the model can correct itself, where `{}` would read as "called with nothing".
 */
function parseToolInput(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Falls through to keeping the raw text.
  }
  return { raw_arguments: args };
}

/** Some upstreams finish a tool-calling turn with `stop`; the client only runs tools on `tool_use`. */
function toStopReason(finish: FinishReason, hasToolUse: boolean): StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return hasToolUse ? 'tool_use' : 'end_turn';
  }
}

/** Anthropic counts cache reads apart from input_tokens; chat counts them inside prompt_tokens. */
function toUsage(usage: CompletionUsage): Usage {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - cached),
    output_tokens: usage.completion_tokens,
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
    cache_creation: null,
    output_tokens_details: reasoning ? { thinking_tokens: reasoning } : null,
    server_tool_use: null,
    service_tier: 'standard',
    inference_geo: null,
    speed: null,
  };
}

// ---- streaming: chat chunks -> Anthropic events ----

interface ToolState {
  id: string;
  name: string;
  /** Content-block index once the block is open; arguments wait in `pending` until then. */
  block?: number;
  pending: string;
}

/**
 * Turns one upstream chat stream into Anthropic's event sequence. Blocks open and close strictly one after
 * another, as Anthropic requires: text closes before a tool_use opens and the other way round. Tool calls are
 * expected one after another, as OpenAI and vLLM stream them; a late argument fragment for a call whose block is
 * already closed is still sent under that block's index, which the SDK's accumulator applies by index.
 */
export class AnthropicStreamWriter {
  readonly #id = newId('msg');
  readonly #tools = new Map<number, ToolState>();
  #started = false;
  #ended = false;
  #nextBlock = 0;
  #open: { index: number; kind: 'text' | 'tool_use' } | undefined;
  #finishReason: FinishReason;
  #upstreamUsage: CompletionUsage | undefined;
  #outputBytes = 0;

  constructor(
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  get stopReason(): StopReason {
    return toStopReason(this.#finishReason, this.#tools.size > 0);
  }

  /** The usage reported at the end: the upstream's when it sent any, else estimates. */
  get usage(): Usage {
    return toUsage(
      this.#upstreamUsage ?? {
        prompt_tokens: this.estimatedInputTokens,
        completion_tokens: tokensForBytes(this.#outputBytes),
        total_tokens: 0,
      },
    );
  }

  /** message_start, at most once; push and end call it, and a gateway may call it early to flush headers. */
  start(): SseEvent[] {
    if (this.#started) return [];
    this.#started = true;
    const message: Message = {
      id: this.#id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: toUsage({ prompt_tokens: this.estimatedInputTokens, completion_tokens: 0, total_tokens: 0 }),
    };
    return [sse({ type: 'message_start', message })];
  }

  push(chunk: ChatCompletionChunk): SseEvent[] {
    if (this.#ended) return [];
    const events = this.start();
    if (chunk.usage) this.#upstreamUsage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return events;
    const text = (choice.delta.content ?? '') + (choice.delta.refusal ?? '');
    if (text) events.push(...this.#text(text));
    for (const call of choice.delta.tool_calls ?? []) events.push(...this.#toolCall(call));
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    return events;
  }

  end(): SseEvent[] {
    if (this.#ended) return [];
    const events = this.start();
    // A call whose name never arrived still gets its block, so its arguments reach the client.
    for (const tool of this.#tools.values()) {
      if (tool.block === undefined) events.push(...this.#openTool(tool));
    }
    events.push(...this.#close());
    this.#ended = true;
    const usage = this.usage;
    events.push(
      sse({
        type: 'message_delta',
        delta: { stop_reason: this.stopReason, stop_sequence: null, stop_details: null, container: null },
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          output_tokens_details: usage.output_tokens_details,
          server_tool_use: null,
        },
      }),
      sse({ type: 'message_stop' }),
    );
    return events;
  }

  /** Cuts the stream with an `error` event, e.g. when the budget runs out; the SDK raises it as an APIError. */
  fail(type: string, message: string): SseEvent[] {
    if (this.#ended) return [];
    const events = this.#close();
    this.#ended = true;
    events.push(typedSse(anthropicErrorBody(type, message)));
    return events;
  }

  #text(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.#open?.kind !== 'text') {
      events.push(...this.#close());
      const index = this.#nextBlock++;
      this.#open = { index, kind: 'text' };
      events.push(
        sse({
          type: 'content_block_start',
          index,
          content_block: { type: 'text', text: '', citations: null },
        }),
      );
    }
    this.#outputBytes += Buffer.byteLength(text, 'utf8');
    const index = this.#open?.index ?? 0;
    events.push(sse({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
    return events;
  }

  #toolCall(delta: ChatCompletionChunk.Choice.Delta.ToolCall): SseEvent[] {
    let tool = this.#tools.get(delta.index);
    if (!tool) {
      tool = { id: '', name: '', pending: '' };
      this.#tools.set(delta.index, tool);
    }
    // Some servers repeat the id and name on every fragment; the first ones given are kept.
    if (delta.id && !tool.id) tool.id = delta.id;
    if (delta.function?.name && !tool.name) tool.name = delta.function.name;
    const args = delta.function?.arguments ?? '';
    this.#outputBytes += Buffer.byteLength(args, 'utf8');
    if (tool.block === undefined) {
      tool.pending += args;
      // The block's start must carry the name, so it waits for one.
      return tool.name ? this.#openTool(tool) : [];
    }
    return args ? [inputDelta(tool.block, args)] : [];
  }

  #openTool(tool: ToolState): SseEvent[] {
    const events = this.#close();
    const index = this.#nextBlock++;
    tool.block = index;
    this.#open = { index, kind: 'tool_use' };
    const id = tool.id || newId('toolu');
    events.push(
      sse({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id, name: tool.name, input: {}, caller: { type: 'direct' } },
      }),
    );
    if (tool.pending) events.push(inputDelta(index, tool.pending));
    tool.pending = '';
    return events;
  }

  #close(): SseEvent[] {
    const open = this.#open;
    this.#open = undefined;
    return open ? [sse({ type: 'content_block_stop', index: open.index })] : [];
  }
}

function inputDelta(index: number, partialJson: string): SseEvent {
  return sse({
    type: 'content_block_delta',
    index,
    delta: { type: 'input_json_delta', partial_json: partialJson },
  });
}

function sse(event: RawMessageStreamEvent): SseEvent {
  return typedSse(event);
}

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
