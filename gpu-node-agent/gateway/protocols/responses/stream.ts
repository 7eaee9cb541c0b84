// An upstream chat stream as the Responses event sequence (response.created, output items and their
// deltas, then response.completed, .incomplete or .failed), every event numbered in order. A call to a
// custom (freeform) tool arrives as JSON arguments wrapping its raw input (see tools.ts), which can only be
// unwrapped once whole: its input goes out in one delta when the call closes, before its item is done,
// which is when Codex reads it.
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type {
  Response,
  ResponseCustomToolCallItem,
  ResponseFunctionToolCallItem,
  ResponseOutputItem,
  ResponseOutputMessage,
  ResponseOutputText,
  ResponseStreamEvent,
  ResponseUsage,
} from 'openai/resources/responses/responses';
import { newId, nowSeconds } from '../ids.js';
import { type SseEvent, typedSse } from '../sse.js';
import { StreamWriter } from '../stream-writer.js';
import {
  buildResponse,
  incompleteReasonFor,
  type ResponseParts,
  toolCallItem,
  toResponseUsage,
} from './response.js';
import { ResponsesToolset } from './tools.js';

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
  item: ResponseFunctionToolCallItem | ResponseCustomToolCallItem;
  /** The chat arguments as they arrived: a custom call's input is read from them when it closes. */
  args: string;
}

/**
 * Tool calls are expected one after another, as OpenAI and vLLM stream them; a late argument fragment for a
 * call already closed is still forwarded under that call's output_index, so nothing is lost, though its
 * output_item.done had gone out without it. A call is a custom or a function call by the name its first
 * fragment carries (OpenAI and vLLM send the name first); a name arriving only later is taken as a function's.
 */
export class ResponsesStreamWriter extends StreamWriter {
  readonly #id = newId('resp');
  readonly #createdAt = nowSeconds();
  readonly #output: ResponseOutputItem[] = [];
  readonly #calls = new Map<number, OpenCall>();
  #sequence = 0;
  #open: OpenMessage | OpenCall | undefined;

  constructor(
    model: string,
    estimatedInputTokens = 0,
    private readonly toolset = new ResponsesToolset(),
  ) {
    super(model, estimatedInputTokens);
  }

  /** The usage reported at the end: the upstream's when it sent any, else estimates. */
  get usage(): ResponseUsage {
    return toResponseUsage(this.chatUsage());
  }

  /** Ends the stream as failed, e.g. when the gateway cuts it for an exhausted budget. */
  fail(code: string, message: string): SseEvent[] {
    return this.ending() ? this.#failure(code, message) : [];
  }

  protected override opening(): SseEvent[] {
    const response = this.#response('in_progress');
    return [
      this.#emit({ type: 'response.created', response }),
      this.#emit({ type: 'response.in_progress', response }),
    ];
  }

  protected override closing(events: SseEvent[]): void {
    events.push(...this.#close('completed'));
    const incompleteReason = incompleteReasonFor(this.finishReason);
    const response = this.#response(incompleteReason ? 'incomplete' : 'completed', { incompleteReason });
    events.push(
      this.#emit({ type: incompleteReason ? 'response.incomplete' : 'response.completed', response }),
    );
  }

  protected override failing(_status: number, code: string, message: string): SseEvent[] {
    return this.#failure(code, message);
  }

  #failure(code: string, message: string): SseEvent[] {
    const events = [...this.start(), ...this.#close('incomplete')];
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

  protected override text(text: string, events: SseEvent[]): void {
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
  }

  protected override toolCall(delta: ChatCompletionChunk.Choice.Delta.ToolCall, events: SseEvent[]): void {
    let call = this.#calls.get(delta.index);
    if (!call) {
      events.push(...this.#close('completed'));
      const callId = delta.id || newId('call');
      const item = toolCallItem(this.toolset, callId, delta.function?.name ?? '', '', 'in_progress');
      call = { kind: 'call', outputIndex: this.#output.length, item, args: '' };
      this.#calls.set(delta.index, call);
      this.#output.push(item);
      this.#open = call;
      events.push(this.#emit({ type: 'response.output_item.added', output_index: call.outputIndex, item }));
    } else if (!call.item.name && delta.function?.name) {
      const origin = this.toolset.origin(delta.function.name);
      call.item.name = origin?.name ?? delta.function.name;
      if (origin?.namespace) call.item.namespace = origin.namespace;
    }
    const args = delta.function?.arguments;
    if (args) {
      call.args += args;
      this.outputBytes += Buffer.byteLength(args, 'utf8');
      if (call.item.type === 'custom_tool_call') return;
      call.item.arguments += args;
      events.push(
        this.#emit({
          type: 'response.function_call_arguments.delta',
          item_id: call.item.id,
          output_index: call.outputIndex,
          delta: args,
        }),
      );
    }
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
    const ids = { item_id: item.id, output_index: outputIndex };
    const done = () =>
      this.#emit({ type: 'response.output_item.done', output_index: outputIndex, item: open.item });
    if (open.item.type === 'custom_tool_call') {
      const input = ResponsesToolset.customInput(open.args);
      open.item.input = input;
      return [
        this.#emit({ type: 'response.custom_tool_call_input.delta', ...ids, delta: input }),
        this.#emit({ type: 'response.custom_tool_call_input.done', ...ids, input }),
        done(),
      ];
    }
    return [
      this.#emit({
        type: 'response.function_call_arguments.done',
        ...ids,
        name: open.item.name,
        arguments: open.item.arguments,
      }),
      done(),
    ];
  }
}
