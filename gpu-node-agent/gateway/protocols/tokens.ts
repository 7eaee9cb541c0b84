// Prompt-size estimates, for what clients are told: count_tokens answers, and a stream's input tokens
// before the upstream has counted them. Budgets are not reserved by these: they hold a bound from the
// request's bytes (pipeline/worst-case.ts), which an estimate is not.
//
// No tokenizer: this runs on every streamed request with a sub-millisecond budget, and which tokenizer the
// upstream model uses is not known here anyway. BPE tokenizers (o200k, cl100k, Llama 3, Qwen) average about
// 4 bytes per token on English and 3.5 or more on source code, where runs of indentation collapse into single
// tokens, so one token per 3 UTF-8 bytes comes out a little high on most text. Measured with o200k and cl100k
// on this repository: TypeScript and Markdown come to ~0.75 of the estimate, tool schemas ~0.65, English prose
// ~0.55. Near par or under: compact JSON arguments (~1.0), CJK text (up to ~1.15 on cl100k) and random
// strings such as hashes, UUIDs and base64 (~1.7-2.3), which a byte count cannot tell apart from prose.
import type {
  ChatCompletionContentPart,
  ChatCompletionContentPartRefusal,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';

const BYTES_PER_TOKEN = 3;
/** Role markers and separators a chat template wraps around every message. */
const MESSAGE_OVERHEAD_TOKENS = 4;
/** The assistant-turn primer a chat template appends after the last message. */
const REQUEST_OVERHEAD_TOKENS = 3;
/**
 * Images are billed by pixels, not by the bytes of their encoding, so a data URL's length says nothing useful.
 * 2,000 is above what Claude (~1,600 at its size cap) and GPT-4o (~1,100 at high detail) charge for one image.
 */
const IMAGE_TOKENS = 2_000;

export function estimateTokens(text: string): number {
  return tokensForBytes(Buffer.byteLength(text, 'utf8'));
}

export function tokensForBytes(bytes: number): number {
  return Math.ceil(bytes / BYTES_PER_TOKEN);
}

export function estimatePromptTokens(req: ChatCompletionCreateParams): number {
  let bytes = 0;
  let tokens = REQUEST_OVERHEAD_TOKENS;
  for (const message of req.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    const counted = contentSize(message);
    bytes += counted.bytes;
    tokens += counted.tokens;
  }
  // Tool schemas reach the model as JSON (or a template's rendering of it, which is no longer).
  if (req.tools?.length) bytes += Buffer.byteLength(JSON.stringify(req.tools), 'utf8');
  return tokens + tokensForBytes(bytes);
}

function contentSize(message: ChatCompletionMessageParam): { bytes: number; tokens: number } {
  let bytes = 0;
  let tokens = 0;
  const { content } = message;
  if (typeof content === 'string') bytes += Buffer.byteLength(content, 'utf8');
  else if (content) {
    for (const part of content as Array<ChatCompletionContentPart | ChatCompletionContentPartRefusal>) {
      const size = partSize(part);
      bytes += size.bytes;
      tokens += size.tokens;
    }
  }
  if (message.role === 'assistant') {
    for (const call of message.tool_calls ?? []) {
      const text =
        call.type === 'function' ? call.function.name + call.function.arguments : call.custom.input;
      bytes += Buffer.byteLength(text, 'utf8');
    }
  }
  return { bytes, tokens };
}

function partSize(part: ChatCompletionContentPart | ChatCompletionContentPartRefusal): {
  bytes: number;
  tokens: number;
} {
  switch (part.type) {
    case 'text':
      return { bytes: Buffer.byteLength(part.text, 'utf8'), tokens: 0 };
    case 'refusal':
      return { bytes: Buffer.byteLength(part.refusal, 'utf8'), tokens: 0 };
    case 'image_url':
      return { bytes: 0, tokens: IMAGE_TOKENS };
    // Documents are counted by their decoded size (base64 carries 3 bytes in 4 characters): crude for PDFs,
    // whose pages cost far more or far less than their bytes, but it grows with the document.
    case 'file':
      return { bytes: Math.ceil(((part.file.file_data?.length ?? 0) * 3) / 4), tokens: 0 };
    case 'input_audio':
      return { bytes: Math.ceil((part.input_audio.data.length * 3) / 4), tokens: 0 };
    // A part type newer than the gateway passes through; every byte of it may reach the model.
    default:
      return { bytes: Buffer.byteLength(JSON.stringify(part), 'utf8'), tokens: 0 };
  }
}
