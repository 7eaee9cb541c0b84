// The most a call can be billed, in tokens, known before it is sent: what budgets reserve (plan.ts). A
// bound, not an estimate: a call is only made once its bound is held, so the budget holds unless a
// provider bills beyond it (then the overshoot is charged and the next call refused: budget-gate.ts).
//
// Prompt. Every byte the model could see arrives in the request body, so the body's UTF-8 size bounds
// the text: byte-level BPE tokenizers (GPT-2 style: o200k, cl100k, Llama 3, Qwen, DeepSeek) and
// SentencePiece with byte fallback (Gemma, Mistral) never make a token of less than one byte of input,
// so a text of n bytes is at most n tokens. What the body carries besides text (JSON quotes, field
// names, each message's `{"role":"user","content":...}`, at least 25 bytes) outweighs the tokens a chat
// template wraps around each message (role markers and separators: at most 10). What the provider adds
// that the body does not hold is added on top: a fixed request overhead (BOS, the assistant primer), a
// tool-use preamble when tools are offered (Anthropic documents 346 tokens), each Anthropic-defined tool
// (bash, text editor, computer use: up to 1,234 tokens each, documented), and the budget note the gateway
// adds for budget-aware keys. Images are counted by their documented worst case instead of their bytes
// (a base64 image is far more bytes than tokens): Claude scales images down to about 1,600 tokens,
// GPT-4o tiles to at most 1,445, patch-billed OpenAI models at most 1,536 patches times 2.46 (3,779),
// Gemini 258 per 768-pixel tile; gpt-4o-mini bills an image as 33 times the tokens (up to 48,169). PDFs
// and audio are counted by their bytes, which bounds audio and a PDF's text but not the page images
// Anthropic adds (about 1,500-3,000 tokens a page): a call with a PDF of small pages may overshoot.
//
// Output: what the call asks for (max_tokens, max_completion_tokens, maxOutputTokens; reasoning tokens
// count within it at OpenAI, Anthropic and Gemini) times `n`, and when it asks for nothing, the model's
// own output limit from the price table; only a model whose limit is unknown (a local model) falls back
// to the configured default, which a stream extends as it goes (modes/stream.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { PriceTable } from '../../../shared/pricing/price-table.js';

/** BOS, the assistant-turn primer and separators a template adds once per request. */
const REQUEST_OVERHEAD_TOKENS = 64;
/** The preamble a provider adds when tools are offered (Anthropic: 346 tokens with tool_choice auto). */
const TOOL_USE_OVERHEAD_TOKENS = 512;
/** An Anthropic-defined tool (`bash_…`, `text_editor_…`, `computer_…`): its documented definition cost. */
const DEFINED_TOOL_TOKENS = 1_300;
/** The budget note reserve.ts adds for a budget-aware key: under 256 bytes. */
const BUDGET_NOTE_TOKENS = 256;
const IMAGE_TOKENS = 4_000;
/** Models that bill an image as many more tokens than the default allows for, by name. */
const IMAGE_TOKENS_BY_MODEL: readonly (readonly [RegExp, number])[] = [[/gpt-4o-mini/, 48_169]];

/** A request's prompt bound, apart from its images, whose worst case depends on the model. */
export interface PromptBound {
  /** Tokens bounded by bytes, overheads included. */
  readonly tokens: number;
  readonly images: number;
}

/**
 * The prompt bound of a request: `body` as the client sent it (its size from Content-Length, which the
 * HTTP parser checked, else measured) and `chat`, its gateway form, where its images are found.
 */
export function promptBound(
  headers: IncomingHttpHeaders,
  body: unknown,
  chat: ChatCompletionCreateParams,
  budgetNote: boolean,
): PromptBound {
  let bytes = bodyBytes(headers, body);
  let images = 0;
  for (const message of chat.messages) {
    const content = message.content;
    if (typeof content === 'string' || !content) continue;
    for (const part of content) {
      if (part.type !== 'image_url') continue;
      images++;
      // The image's base64 is in the body too (the same characters, after the data URL's comma).
      const url = part.image_url.url;
      if (url.startsWith('data:')) bytes -= url.length - url.indexOf(',') - 1;
    }
  }
  let tokens = Math.max(0, bytes) + REQUEST_OVERHEAD_TOKENS;
  const tools = (body as { tools?: unknown } | null)?.tools;
  if (Array.isArray(tools) && tools.length > 0) {
    tokens += TOOL_USE_OVERHEAD_TOKENS;
    for (const tool of tools) if (isDefinedTool(tool)) tokens += DEFINED_TOOL_TOKENS;
  }
  if (budgetNote) tokens += BUDGET_NOTE_TOKENS;
  return { tokens, images };
}

/** The prompt tokens `model` may bill for a request with this bound. */
export function promptTokensFor(bound: PromptBound, model: string): number {
  if (bound.images === 0) return bound.tokens;
  return bound.tokens + bound.images * imageTokens(model);
}

/**
 * The output tokens `model` may bill: what the call asks for (no more than the model can give), else
 * the model's limit, else `fallback`; times the number of choices asked for.
 */
export function outputTokensFor(
  chat: ChatCompletionCreateParams,
  prices: PriceTable,
  model: string,
  fallback: number,
): number {
  const asked = chat.max_completion_tokens ?? chat.max_tokens;
  const limit = prices.maxOutputTokens(model);
  const tokens = asked == null ? (limit ?? fallback) : limit === undefined ? asked : Math.min(asked, limit);
  return tokens * Math.max(1, chat.n ?? 1);
}

function bodyBytes(headers: IncomingHttpHeaders, body: unknown): number {
  const length = headers['content-length'];
  const declared = length === undefined ? Number.NaN : Number(length);
  if (Number.isSafeInteger(declared) && declared >= 0) return declared;
  return Buffer.byteLength(JSON.stringify(body ?? null), 'utf8');
}

function imageTokens(model: string): number {
  for (const [pattern, tokens] of IMAGE_TOKENS_BY_MODEL) if (pattern.test(model)) return tokens;
  return IMAGE_TOKENS;
}

/** Anthropic's own tools name a versioned type (`bash_20250124`); custom and function tools do not. */
function isDefinedTool(tool: unknown): boolean {
  const type = (tool as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type !== 'custom' && type !== 'function';
}
