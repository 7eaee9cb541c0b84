// The shape of each client protocol's request, as far as the gateway reads it: a body whose fields
// have the wrong type (a `messages` that is not a list, a part that is null, a text that is a
// number) is the client's mistake, refused with 400 naming the field, before any translation or
// token count reads it. Only what the gateway reads is checked, and every object is loose: fields the
// gateway does not read pass through to the upstream untouched, so a newer SDK's additions still work.
import { z } from 'zod';
import { parseOrThrow } from '../../../shared/validation.js';

const Text = z.string();
const Count = z.int().min(0);
const Loose = z.looseObject({});

/**
 * A part of a list-valued field whose `type` says what else it holds: a type the gateway knows must have
 * the fields it reads (the failure names them); one it does not know passes.
 */
function typedParts(known: Record<string, z.ZodRawShape>, defaultType?: string): z.ZodType {
  const shapes = new Map(Object.entries(known).map(([type, shape]) => [type, z.looseObject(shape)]));
  const type = defaultType === undefined ? Text : Text.optional();
  return z.looseObject({ type }).superRefine((part, ctx) => {
    const result = shapes.get(part.type ?? defaultType ?? '')?.safeParse(part);
    for (const issue of result?.error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  });
}

// --- OpenAI Chat Completions (also what every other protocol is translated into) ---

const ChatPart = typedParts({
  text: { text: Text },
  refusal: { refusal: Text },
  image_url: { image_url: z.looseObject({ url: Text }) },
  file: { file: z.looseObject({ file_data: Text.optional() }) },
  input_audio: { input_audio: z.looseObject({ data: Text }) },
});

const ChatToolCall = typedParts({
  function: { function: z.looseObject({ name: Text, arguments: Text }) },
  custom: { custom: z.looseObject({ input: Text }) },
});

const ChatMessage = z.looseObject({
  role: Text,
  content: z.union([Text, z.array(ChatPart)]).nullish(),
  tool_calls: z.array(ChatToolCall).nullish(),
});

export const ChatRequestShape = z.looseObject({
  model: Text.min(1),
  messages: z.array(ChatMessage),
  tools: z.array(Loose).nullish(),
  max_tokens: Count.nullish(),
  max_completion_tokens: Count.nullish(),
  n: z.int().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
});

// --- Anthropic Messages ---

const AnthropicSource = z.looseObject({ type: Text });
const AnthropicToolResultPart = typedParts({
  text: { text: Text },
  image: { source: AnthropicSource },
});
const AnthropicBlock = typedParts({
  text: { text: Text },
  tool_use: { id: Text, name: Text },
  tool_result: {
    tool_use_id: Text,
    content: z.union([Text, z.array(AnthropicToolResultPart)]).nullish(),
    is_error: z.boolean().nullish(),
  },
  image: { source: AnthropicSource },
  document: { source: AnthropicSource, title: Text.nullish() },
});
const AnthropicSystem = z.union([Text, z.array(z.looseObject({ text: Text }))]);

const anthropicFields = {
  model: Text.min(1),
  messages: z.array(z.looseObject({ role: Text, content: z.union([Text, z.array(AnthropicBlock)]) })),
  system: AnthropicSystem.nullish(),
  tools: z.array(Loose).nullish(),
  tool_choice: Loose.nullish(),
  stop_sequences: z.array(Text).nullish(),
  stream: z.boolean().nullish(),
  thinking: z.looseObject({ type: Text, budget_tokens: Count.nullish() }).nullish(),
  output_config: Loose.nullish(),
};
const AnthropicRequestShape = z.looseObject({ ...anthropicFields, max_tokens: z.int().min(1) });
/** count_tokens takes the same request without `max_tokens`. */
const AnthropicCountShape = z.looseObject({ ...anthropicFields, max_tokens: z.int().min(1).nullish() });

// --- OpenAI Responses ---

const ResponsesPart = typedParts({
  input_text: { text: Text },
  output_text: { text: Text },
  refusal: { refusal: Text },
  input_image: { image_url: Text.nullish() },
  input_file: { file_data: Text.nullish() },
});
const ResponsesOutput = z.union([Text, z.array(ResponsesPart)]);
/** An input item; one without a type is a message. */
const ResponsesItem = typedParts(
  {
    message: { role: Text, content: z.union([Text, z.array(ResponsesPart)]) },
    function_call: { call_id: Text, name: Text, arguments: Text },
    custom_tool_call: { call_id: Text, name: Text, input: Text },
    function_call_output: { call_id: Text, output: ResponsesOutput },
    custom_tool_call_output: { call_id: Text, output: ResponsesOutput },
  },
  'message',
);

export const ResponsesRequestShape = z.looseObject({
  model: Text.min(1),
  instructions: Text.nullish(),
  input: z.union([Text, z.array(ResponsesItem)]).nullish(),
  tools: z.array(Loose).nullish(),
  max_output_tokens: Count.nullish(),
  reasoning: Loose.nullish(),
  text: Loose.nullish(),
  stream: z.boolean().nullish(),
});

// --- Gemini ---

const GeminiPart = z.looseObject({
  text: Text.optional(),
  thought: z.boolean().optional(),
  functionCall: z.looseObject({ id: Text.optional(), name: Text }).optional(),
  functionResponse: z.looseObject({ id: Text.optional(), name: Text }).optional(),
  inlineData: z.looseObject({ mimeType: Text, data: Text }).optional(),
});
const GeminiParts = z.looseObject({ parts: z.array(GeminiPart) });

export const GeminiRequestShape = z.looseObject({
  contents: z.array(z.looseObject({ role: Text.optional(), parts: z.array(GeminiPart) })),
  systemInstruction: z.union([Text, GeminiParts]).optional(),
  tools: z
    .array(z.looseObject({ functionDeclarations: z.array(z.looseObject({ name: Text })).optional() }))
    .optional(),
  toolConfig: z.looseObject({ functionCallingConfig: Loose.optional() }).optional(),
  generationConfig: z
    .looseObject({
      maxOutputTokens: Count.optional(),
      stopSequences: z.array(Text).optional(),
      thinkingConfig: Loose.optional(),
    })
    .optional(),
});

/** The body, checked against a protocol's shape: a ValidationError (400) naming the first bad field. */
export function checkShape<T>(shape: z.ZodType, body: unknown): T {
  parseOrThrow(shape, body, { what: 'request' });
  return body as T;
}

export const checkAnthropic = <T>(body: unknown) => checkShape<T>(AnthropicRequestShape, body);
export const checkAnthropicCount = <T>(body: unknown) => checkShape<T>(AnthropicCountShape, body);
