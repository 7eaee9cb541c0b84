// Anthropic Messages (what Claude Code speaks with ANTHROPIC_BASE_URL) into the gateway's canonical
// chat-completions request.
//
// Choices where the protocols do not line up:
// - Server tools and Anthropic-defined tools (web_search, bash_2025..., text_editor...) have no schema a chat
//   upstream could call, so they are left out of the request rather than failing it; custom tools pass.
// - Content the chat form cannot carry (file ids, URL documents, search results, server-tool blocks) is refused
//   with an UnsupportedFieldError naming the block, rather than silently changing what the model sees.
// - Thinking blocks are dropped: their signatures only mean something to Anthropic, and a different upstream
//   model can neither read nor needs another model's reasoning.
// - cache_control is ignored: prompt caching is the upstream's business; cached tokens it reports come back as
//   cache_read_input_tokens.
import type {
  ContentBlockParam,
  DocumentBlockParam,
  ImageBlockParam,
  MessageCreateParams,
  MessageParam,
  TextBlockParam,
  Tool,
  ToolChoice,
  ToolResultBlockParam,
  ToolUnion,
} from '@anthropic-ai/sdk/resources/messages';
import type {
  ChatCompletionContentPart,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { ReasoningEffort } from 'openai/resources/shared';
import { UnsupportedFieldError } from '../../../../shared/errors.js';

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
