// A whole chat completion as a Responses `response`, and the pieces of it a stream reuses: the response
// object itself, usage and the reason a response is incomplete.
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type {
  Response,
  ResponseCustomToolCallItem,
  ResponseError,
  ResponseFunctionToolCallItem,
  ResponseOutputItem,
  ResponseOutputRefusal,
  ResponseOutputText,
  ResponseUsage,
} from 'openai/resources/responses/responses';
import { newId, nowSeconds } from '../ids.js';
import { ResponsesToolset } from './tools.js';

export interface ResponseParts {
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
export function buildResponse(parts: ResponseParts): Response {
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

export function chatToResponses(
  res: ChatCompletion,
  model: string,
  toolset = new ResponsesToolset(),
): Response {
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
    output.push(toolCallItem(toolset, call.id, call.function.name, call.function.arguments, 'completed'));
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

/**
 * A chat tool call as the item its tool was offered as: a custom tool's call carries the raw input, a
 * namespaced tool's its namespace and own name.
 */
export function toolCallItem(
  toolset: ResponsesToolset,
  callId: string,
  chatName: string,
  args: string,
  status: 'in_progress' | 'completed' | 'incomplete',
): ResponseCustomToolCallItem | ResponseFunctionToolCallItem {
  const origin = toolset.origin(chatName);
  const named = {
    call_id: callId,
    name: origin?.name ?? chatName,
    ...(origin?.namespace && { namespace: origin.namespace }),
  };
  if (origin?.kind === 'custom') {
    return {
      type: 'custom_tool_call',
      id: newId('ctc'),
      ...named,
      input: ResponsesToolset.customInput(args),
      status,
    };
  }
  return { type: 'function_call', id: newId('fc'), ...named, arguments: args, status };
}

export function incompleteReasonFor(finish: string | null | undefined): ResponseParts['incompleteReason'] {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return undefined;
}

export function toResponseUsage(usage: CompletionUsage): ResponseUsage {
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
