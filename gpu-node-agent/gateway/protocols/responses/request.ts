// OpenAI Responses (the only protocol Codex CLI speaks) into the gateway's canonical chat-completions request.
//
// The gateway keeps no conversation state, so everything that points at a stored response, conversation, prompt
// or file is refused with an UnsupportedFieldError naming the field. Tools, wherever the client declared them
// (`tools` or `additional_tools` items), become chat function tools as tools.ts says; calls to them in the
// history (`function_call`, `custom_tool_call`) go up under the same chat names. Reasoning items in the input
// are dropped: they carry another provider's reasoning, which a different upstream model can neither read nor
// need. Fields that only tune OpenAI's own serving (`store`, `include`, `prompt_cache_key`, `text.verbosity`,
// `reasoning.context`, `client_metadata`) are accepted and left out.
import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartImage,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type {
  EasyInputMessage,
  ResponseCreateParams,
  ResponseCustomToolCall,
  ResponseCustomToolCallOutput,
  ResponseFunctionCallOutputItem,
  ResponseFunctionToolCall,
  ResponseInputContent,
  ResponseInputItem,
  ResponseOutputMessage,
  ResponseOutputRefusal,
  ResponseOutputText,
} from 'openai/resources/responses/responses';
import { UnsupportedFieldError } from '../../../../shared/errors.js';
import { ResponsesToolset } from './tools.js';

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

  const toolset = ResponsesToolset.of(body);
  const messages: ChatCompletionMessageParam[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (body.input) appendItems(messages, body.input, toolset);

  const req: Omit<ChatCompletionCreateParamsBase, 'stream'> = { model: body.model, messages };
  if (toolset.chatTools.length > 0) {
    req.tools = toolset.chatTools;
    const toolChoice = toolset.toolChoice(body.tool_choice);
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

function appendItems(
  messages: ChatCompletionMessageParam[],
  items: ResponseInputItem[],
  toolset: ResponsesToolset,
): void {
  // Chat wants tool messages right after the assistant message that called them, so images a tool returned
  // (which a tool message cannot hold) wait until the run of outputs ends and follow as a user message.
  let toolImages: ChatCompletionContentPart[] = [];
  const flushToolImages = () => {
    if (toolImages.length > 0) messages.push({ role: 'user', content: toolImages });
    toolImages = [];
  };
  items.forEach((item, i) => {
    const type = item.type ?? 'message';
    if (type !== 'function_call_output' && type !== 'custom_tool_call_output') flushToolImages();
    switch (type) {
      case 'message':
        messages.push(toChatMessage(item as InputMessage, `input[${i}]`));
        return;
      case 'function_call': {
        const call = item as ResponseFunctionToolCall;
        appendToolCall(messages, call.call_id, toolset.chatName(call.name, call.namespace), call.arguments);
        return;
      }
      case 'custom_tool_call': {
        const call = item as ResponseCustomToolCall;
        const args = ResponsesToolset.customArguments(call.input);
        appendToolCall(messages, call.call_id, toolset.chatName(call.name, call.namespace), args);
        return;
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        const output = toToolOutput(item as ToolOutputItem, `input[${i}]`);
        messages.push(output.message);
        toolImages.push(...output.images);
        return;
      }
      // Tools, gathered into the request's tools by ResponsesToolset; reasoning, dropped (see the header).
      case 'additional_tools':
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

function appendToolCall(
  messages: ChatCompletionMessageParam[],
  id: string,
  name: string,
  args: string,
): void {
  const call = { id, type: 'function' as const, function: { name, arguments: args } };
  // Chat carries one assistant turn's text and all its calls in a single message; Responses splits them.
  const last = messages.at(-1);
  if (last?.role === 'assistant') {
    const assistant: ChatCompletionAssistantMessageParam = last;
    assistant.tool_calls = [...(assistant.tool_calls ?? []), call];
    return;
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

type ToolOutputItem = ResponseInputItem.FunctionCallOutput | ResponseCustomToolCallOutput;

function toToolOutput(
  item: ToolOutputItem,
  path: string,
): { message: ChatCompletionMessageParam; images: ChatCompletionContentPart[] } {
  if (typeof item.output === 'string') {
    return { message: { role: 'tool', tool_call_id: item.call_id, content: item.output }, images: [] };
  }
  const texts: string[] = [];
  const images: ChatCompletionContentPart[] = [];
  item.output.forEach((part: ResponseFunctionCallOutputItem | ResponseInputContent, j) => {
    const partPath = `${path}.output[${j}]`;
    if (part.type === 'input_text') texts.push(part.text);
    else if (part.type === 'input_image') images.push(toChatImage(part, partPath));
    else {
      throw new UnsupportedFieldError(partPath, `${item.type} part '${part.type}' is not supported`);
    }
  });
  if (images.length > 0) {
    texts.push(`[${images.length} image(s) returned by this call follow in the next user message]`);
    images.unshift({ type: 'text', text: `Images returned by tool call ${item.call_id}:` });
  }
  return { message: { role: 'tool', tool_call_id: item.call_id, content: texts.join('\n') }, images };
}
