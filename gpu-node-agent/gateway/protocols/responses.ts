// Translates between OpenAI Responses (the only protocol Codex CLI speaks) and the gateway's canonical
// chat-completions form: requests in; responses, SSE streams and OpenAI-shaped error bodies out.
//
// The gateway keeps no conversation state, so everything that points at a stored response, conversation, prompt
// or file is refused with an UnsupportedFieldError naming the field. Hosted tools (web search, file search, code
// interpreter, MCP, ...) cannot run on a chat upstream: they are left out of the request rather than failing it,
// so a client that offers them still gets answers, just without those tools. Reasoning items in the input are
// dropped: they carry another provider's reasoning, which a different upstream model can neither read nor need.
import { randomUUID } from 'node:crypto';
import type {
  ChatCompletion,
  ChatCompletionAssistantMessageParam,
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionContentPartImage,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type {
  EasyInputMessage,
  FunctionTool,
  Response,
  ResponseCreateParams,
  ResponseError,
  ResponseFunctionCallOutputItem,
  ResponseFunctionToolCall,
  ResponseInputContent,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseOutputMessage,
  ResponseOutputRefusal,
  ResponseOutputText,
  ResponseStreamEvent,
  ResponseUsage,
  Tool,
} from 'openai/resources/responses/responses';
import { AutovibeError } from '../../../shared/errors.js';
import { type SseEvent, typedSse } from './sse.js';
import { tokensForBytes } from './tokens.js';

/**
 * A request field the gateway cannot honour. An AutovibeError, so the gateway's one error handler answers 400
 * with the field named in `details` (and `field`) without knowing about protocols.
 */
export class UnsupportedFieldError extends AutovibeError {
  override readonly status = 400;
  override readonly code = 'unsupported_field';

  constructor(
    readonly field: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, details: [{ path: field, problem: message }] });
  }
}

export function openAiErrorBody(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}

// ---- request: Responses -> chat ----

/** Fields that refer to state kept by OpenAI's servers, which this gateway does not keep. */
const SERVER_STATE_FIELDS = ['previous_response_id', 'conversation', 'prompt', 'background'] as const;

type InputMessage = EasyInputMessage | ResponseInputItem.Message | ResponseOutputMessage;
type MessagePart = ResponseInputContent | ResponseOutputText | ResponseOutputRefusal;

export function responsesToChat(body: ResponseCreateParams): ChatCompletionCreateParams {
  for (const field of SERVER_STATE_FIELDS) {
    if (body[field] != null && body[field] !== false) {
      throw new UnsupportedFieldError(
        field,
        `${field} is not supported: this gateway keeps no server-side state`,
      );
    }
  }
  if (!body.model) throw new UnsupportedFieldError('model', 'model is required');

  const messages: ChatCompletionMessageParam[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (body.input) appendItems(messages, body.input);

  const req: Omit<ChatCompletionCreateParamsBase, 'stream'> = { model: body.model, messages };
  const tools = (body.tools ?? []).filter(isFunctionTool).map(toChatTool);
  if (tools.length > 0) {
    req.tools = tools;
    const toolChoice = toChatToolChoice(body.tool_choice);
    if (toolChoice !== undefined) req.tool_choice = toolChoice;
    if (body.parallel_tool_calls != null) req.parallel_tool_calls = body.parallel_tool_calls;
  }
  if (body.max_output_tokens != null) req.max_tokens = body.max_output_tokens;
  if (body.reasoning?.effort != null) req.reasoning_effort = body.reasoning.effort;
  if (body.temperature != null) req.temperature = body.temperature;
  if (body.top_p != null) req.top_p = body.top_p;
  const format = body.text?.format;
  if (format?.type === 'json_schema') {
    const { name, schema, description, strict } = format;
    req.response_format = { type: 'json_schema', json_schema: { name, schema, description, strict } };
  } else if (format?.type === 'json_object') req.response_format = { type: 'json_object' };
  // Usage arrives in a final chunk only when asked for; the gateway prices every stream from it.
  return body.stream ? { ...req, stream: true, stream_options: { include_usage: true } } : req;
}

function appendItems(messages: ChatCompletionMessageParam[], items: ResponseInputItem[]): void {
  // Chat wants tool messages right after the assistant message that called them, so images a tool returned
  // (which a tool message cannot hold) wait until the run of outputs ends and follow as a user message.
  let toolImages: ChatCompletionContentPart[] = [];
  const flushToolImages = () => {
    if (toolImages.length > 0) messages.push({ role: 'user', content: toolImages });
    toolImages = [];
  };
  items.forEach((item, i) => {
    const type = item.type ?? 'message';
    if (type !== 'function_call_output') flushToolImages();
    switch (type) {
      case 'message':
        messages.push(toChatMessage(item as InputMessage, `input[${i}]`));
        return;
      case 'function_call':
        appendToolCall(messages, item as ResponseFunctionToolCall);
        return;
      case 'function_call_output': {
        const output = toToolOutput(item as ResponseInputItem.FunctionCallOutput, `input[${i}]`);
        messages.push(output.message);
        toolImages.push(...output.images);
        return;
      }
      case 'reasoning':
        return;
      default:
        throw new UnsupportedFieldError(`input[${i}]`, `input item type '${type}' is not supported`);
    }
  });
  flushToolImages();
}

function toChatMessage(item: InputMessage, path: string): ChatCompletionMessageParam {
  if (item.role === 'user') {
    if (typeof item.content === 'string') return { role: 'user', content: item.content };
    const parts = item.content.map((p, j) => toChatPart(p, `${path}.content[${j}]`));
    // A lone text part goes as a plain string, the form every chat template handles.
    const only = parts.length === 1 ? parts[0] : undefined;
    return { role: 'user', content: only?.type === 'text' ? only.text : parts };
  }
  const text =
    typeof item.content === 'string'
      ? item.content
      : item.content.map((p: MessagePart, j) => textOf(p, `${path}.content[${j}]`)).join('');
  // Open-weight chat templates know `system`; many reject the newer `developer` role.
  return item.role === 'assistant' ? { role: 'assistant', content: text } : { role: 'system', content: text };
}

function textOf(part: MessagePart, path: string): string {
  const chat = toChatPart(part, path);
  if (chat.type !== 'text') {
    throw new UnsupportedFieldError(path, `a ${part.type} part is only allowed in user messages`);
  }
  return chat.text;
}

function toChatPart(part: MessagePart, path: string): ChatCompletionContentPart {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'text', text: part.refusal };
    case 'input_image':
      return toChatImage(part, path);
    case 'input_file':
      if (!part.file_data) {
        throw new UnsupportedFieldError(
          path,
          'only inline files (file_data) are supported, not file_id or file_url',
        );
      }
      return { type: 'file', file: { file_data: part.file_data, filename: part.filename } };
  }
}

function toChatImage(
  part: { image_url?: string | null; detail?: string | null },
  path: string,
): ChatCompletionContentPartImage {
  if (!part.image_url) throw new UnsupportedFieldError(path, 'only images given by image_url are supported');
  const detail =
    part.detail === 'low' || part.detail === 'high' || part.detail === 'auto' ? part.detail : undefined;
  return { type: 'image_url', image_url: detail ? { url: part.image_url, detail } : { url: part.image_url } };
}

function appendToolCall(messages: ChatCompletionMessageParam[], item: ResponseFunctionToolCall): void {
  const call = {
    id: item.call_id,
    type: 'function' as const,
    function: { name: item.name, arguments: item.arguments },
  };
  // Chat carries one assistant turn's text and all its calls in a single message; Responses splits them.
  const last = messages.at(-1);
  if (last?.role === 'assistant') {
    const assistant: ChatCompletionAssistantMessageParam = last;
    assistant.tool_calls = [...(assistant.tool_calls ?? []), call];
    return;
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

function toToolOutput(
  item: ResponseInputItem.FunctionCallOutput,
  path: string,
): { message: ChatCompletionMessageParam; images: ChatCompletionContentPart[] } {
  if (typeof item.output === 'string') {
    return { message: { role: 'tool', tool_call_id: item.call_id, content: item.output }, images: [] };
  }
  const texts: string[] = [];
  const images: ChatCompletionContentPart[] = [];
  item.output.forEach((part: ResponseFunctionCallOutputItem, j) => {
    const partPath = `${path}.output[${j}]`;
    if (part.type === 'input_text') texts.push(part.text);
    else if (part.type === 'input_image') images.push(toChatImage(part, partPath));
    else {
      throw new UnsupportedFieldError(partPath, `function_call_output part '${part.type}' is not supported`);
    }
  });
  if (images.length > 0) {
    texts.push(`[${images.length} image(s) returned by this call follow in the next user message]`);
    images.unshift({ type: 'text', text: `Images returned by tool call ${item.call_id}:` });
  }
  return { message: { role: 'tool', tool_call_id: item.call_id, content: texts.join('\n') }, images };
}

function isFunctionTool(tool: Tool): tool is FunctionTool {
  return tool.type === 'function';
}

function toChatTool(tool: FunctionTool): ChatCompletionTool {
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description != null && { description: tool.description }),
      ...(tool.parameters != null && { parameters: tool.parameters }),
      ...(tool.strict != null && { strict: tool.strict }),
    },
  };
}

/** Choices that name a hosted tool are dropped with the tool, leaving the upstream's default (auto). */
function toChatToolChoice(
  choice: ResponseCreateParams['tool_choice'],
): ChatCompletionToolChoiceOption | undefined {
  if (choice === undefined || typeof choice === 'string') return choice;
  if (choice.type === 'function') return { type: 'function', function: { name: choice.name } };
  if (choice.type === 'allowed_tools') {
    const tools = choice.tools
      .filter((t) => t.type === 'function' && typeof t.name === 'string')
      .map((t) => ({ type: 'function', function: { name: t.name } }));
    return { type: 'allowed_tools', allowed_tools: { mode: choice.mode, tools } };
  }
  return undefined;
}

// ---- response: chat -> Responses ----

interface ResponseParts {
  id: string;
  model: string;
  createdAt: number;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  output: ResponseOutputItem[];
  usage?: ResponseUsage;
  incompleteReason?: 'max_output_tokens' | 'content_filter';
  error?: { code: string; message: string };
}

// `output_text` is an SDK convenience the wire format does not need; it is filled because `Response` types it
// and the SDK recomputes the same value anyway.
function buildResponse(parts: ResponseParts): Response {
  return {
    id: parts.id,
    object: 'response',
    created_at: parts.createdAt,
    ...(parts.status !== 'in_progress' && { completed_at: nowSeconds() }),
    status: parts.status,
    model: parts.model,
    output: parts.output,
    output_text: outputText(parts.output),
    // The SDK types a closed list of codes; the wire carries others too (Codex acts on `insufficient_quota`).
    error: parts.error ? (parts.error as ResponseError) : null,
    incomplete_details: parts.incompleteReason ? { reason: parts.incompleteReason } : null,
    instructions: null,
    metadata: {},
    parallel_tool_calls: true,
    temperature: null,
    top_p: null,
    tool_choice: 'auto',
    tools: [],
    ...(parts.usage && { usage: parts.usage }),
  };
}

export function chatToResponses(res: ChatCompletion, model: string): Response {
  const choice = res.choices[0];
  const message = choice?.message;
  const output: ResponseOutputItem[] = [];
  const content: Array<ResponseOutputText | ResponseOutputRefusal> = [];
  if (message?.content) content.push({ type: 'output_text', text: message.content, annotations: [] });
  if (message?.refusal) content.push({ type: 'refusal', refusal: message.refusal });
  if (content.length > 0) {
    output.push({ type: 'message', id: newId('msg'), role: 'assistant', status: 'completed', content });
  }
  for (const call of message?.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    output.push({
      type: 'function_call',
      id: newId('fc'),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: 'completed',
    });
  }
  const incompleteReason = incompleteReasonFor(choice?.finish_reason);
  return buildResponse({
    id: newId('resp'),
    model,
    createdAt: res.created || nowSeconds(),
    status: incompleteReason ? 'incomplete' : 'completed',
    output,
    incompleteReason,
    usage: toResponseUsage(res.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }),
  });
}

function incompleteReasonFor(finish: string | null | undefined): ResponseParts['incompleteReason'] {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return undefined;
}

function toResponseUsage(usage: CompletionUsage): ResponseUsage {
  // Responses counts cached tokens inside input_tokens, as chat's prompt_tokens does: no subtraction here.
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: {
      cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
      cache_write_tokens: 0,
    },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens || usage.prompt_tokens + usage.completion_tokens,
  };
}

function outputText(output: ResponseOutputItem[]): string {
  return output
    .flatMap((item) => (item.type === 'message' ? item.content : []))
    .map((part) => (part.type === 'output_text' ? part.text : ''))
    .join('');
}

// ---- streaming: chat chunks -> Responses events ----

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type UnsequencedEvent = DistributiveOmit<ResponseStreamEvent, 'sequence_number'>;

interface OpenMessage {
  kind: 'message';
  outputIndex: number;
  item: ResponseOutputMessage;
  text: string;
}

interface OpenCall {
  kind: 'call';
  outputIndex: number;
  item: ResponseFunctionToolCall & { id: string };
}

/**
 * Turns one upstream chat stream into the Responses event sequence. Tool calls are expected one after another,
 * as OpenAI and vLLM stream them; a late argument fragment for a call already closed is still forwarded under
 * that call's output_index, so nothing is lost, though its output_item.done had gone out without it.
 */
export class ResponsesStreamWriter {
  readonly #id = newId('resp');
  readonly #createdAt = nowSeconds();
  readonly #output: ResponseOutputItem[] = [];
  readonly #calls = new Map<number, OpenCall>();
  #sequence = 0;
  #started = false;
  #ended = false;
  #open: OpenMessage | OpenCall | undefined;
  #finishReason: string | null = null;
  #upstreamUsage: CompletionUsage | undefined;
  #outputBytes = 0;

  constructor(
    private readonly model: string,
    private readonly estimatedInputTokens = 0,
  ) {}

  /** The usage reported at the end: the upstream's when it sent any, else estimates. */
  get usage(): ResponseUsage {
    return toResponseUsage(
      this.#upstreamUsage ?? {
        prompt_tokens: this.estimatedInputTokens,
        completion_tokens: tokensForBytes(this.#outputBytes),
        total_tokens: 0,
      },
    );
  }

  start(): SseEvent[] {
    if (this.#started) return [];
    this.#started = true;
    const response = this.#response('in_progress');
    return [
      this.#emit({ type: 'response.created', response }),
      this.#emit({ type: 'response.in_progress', response }),
    ];
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
    const events = [...this.start(), ...this.#close('completed')];
    this.#ended = true;
    const incompleteReason = incompleteReasonFor(this.#finishReason);
    const response = this.#response(incompleteReason ? 'incomplete' : 'completed', { incompleteReason });
    events.push(
      this.#emit({ type: incompleteReason ? 'response.incomplete' : 'response.completed', response }),
    );
    return events;
  }

  /** Ends the stream as failed, e.g. when the gateway cuts it for an exhausted budget. */
  fail(code: string, message: string): SseEvent[] {
    if (this.#ended) return [];
    const events = [...this.start(), ...this.#close('incomplete')];
    this.#ended = true;
    const response = this.#response('failed', { error: { code, message } });
    events.push(this.#emit({ type: 'response.failed', response }));
    return events;
  }

  #response(
    status: ResponseParts['status'],
    extra: Pick<ResponseParts, 'incompleteReason' | 'error'> = {},
  ): Response {
    return buildResponse({
      id: this.#id,
      model: this.model,
      createdAt: this.#createdAt,
      status,
      output: this.#output,
      ...(status !== 'in_progress' && { usage: this.usage }),
      ...extra,
    });
  }

  #emit(event: UnsequencedEvent): SseEvent {
    const sequenced: ResponseStreamEvent = { ...event, sequence_number: this.#sequence++ };
    return typedSse(sequenced);
  }

  #text(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.#open?.kind !== 'message') {
      events.push(...this.#close('completed'));
      const item: ResponseOutputMessage = {
        type: 'message',
        id: newId('msg'),
        role: 'assistant',
        status: 'in_progress',
        content: [],
      };
      const open: OpenMessage = { kind: 'message', outputIndex: this.#output.length, item, text: '' };
      this.#output.push(item);
      this.#open = open;
      events.push(
        this.#emit({ type: 'response.output_item.added', output_index: open.outputIndex, item }),
        this.#emit({
          type: 'response.content_part.added',
          item_id: item.id,
          output_index: open.outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        }),
      );
    }
    const open = this.#open as OpenMessage;
    open.text += text;
    this.#outputBytes += Buffer.byteLength(text, 'utf8');
    events.push(
      this.#emit({
        type: 'response.output_text.delta',
        item_id: open.item.id,
        output_index: open.outputIndex,
        content_index: 0,
        delta: text,
        logprobs: [],
      }),
    );
    return events;
  }

  #toolCall(delta: ChatCompletionChunk.Choice.Delta.ToolCall): SseEvent[] {
    const events: SseEvent[] = [];
    let call = this.#calls.get(delta.index);
    if (!call) {
      events.push(...this.#close('completed'));
      const item = {
        type: 'function_call' as const,
        id: newId('fc'),
        call_id: delta.id || newId('call'),
        name: delta.function?.name ?? '',
        arguments: '',
        status: 'in_progress' as const,
      };
      call = { kind: 'call', outputIndex: this.#output.length, item };
      this.#calls.set(delta.index, call);
      this.#output.push(item);
      this.#open = call;
      events.push(this.#emit({ type: 'response.output_item.added', output_index: call.outputIndex, item }));
    } else if (!call.item.name && delta.function?.name) {
      call.item.name = delta.function.name;
    }
    const args = delta.function?.arguments;
    if (args) {
      call.item.arguments += args;
      this.#outputBytes += Buffer.byteLength(args, 'utf8');
      events.push(
        this.#emit({
          type: 'response.function_call_arguments.delta',
          item_id: call.item.id,
          output_index: call.outputIndex,
          delta: args,
        }),
      );
    }
    return events;
  }

  // Items are mutated in place and serialized as each event is emitted, so the final response holds them as
  // they ended, late argument fragments included.
  #close(status: 'completed' | 'incomplete'): SseEvent[] {
    const open = this.#open;
    this.#open = undefined;
    if (!open) return [];
    const { outputIndex, item } = open;
    item.status = status;
    if (open.kind === 'message') {
      const part: ResponseOutputText = { type: 'output_text', text: open.text, annotations: [] };
      open.item.content = [part];
      const ids = { item_id: item.id, output_index: outputIndex, content_index: 0 };
      return [
        this.#emit({ type: 'response.output_text.done', ...ids, text: open.text, logprobs: [] }),
        this.#emit({ type: 'response.content_part.done', ...ids, part }),
        this.#emit({ type: 'response.output_item.done', output_index: outputIndex, item: open.item }),
      ];
    }
    return [
      this.#emit({
        type: 'response.function_call_arguments.done',
        item_id: item.id,
        output_index: outputIndex,
        name: open.item.name,
        arguments: open.item.arguments,
      }),
      this.#emit({ type: 'response.output_item.done', output_index: outputIndex, item: open.item }),
    ];
  }
}

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
