// Google's Gemini API (generateContent / streamGenerateContent, what Gemini CLI speaks with
// GOOGLE_GEMINI_BASE_URL) into the gateway's canonical chat-completions request.
//
// Choices where the protocols do not line up:
// - The model and the streaming choice are in the URL, not the body: the route puts them in the body
//   as `model` and `stream` before the request gets here.
// - Function calls carry an `id` when the client sets one; calls without one get `call_<turn>_<n>`, and
//   a function response without an id answers the earliest unanswered call of its name.
// - Thought parts are dropped (another model's reasoning means nothing upstream); inline data other
//   than images, file data and code execution parts are refused, naming the part.
// - Schemas in Gemini's OpenAPI dialect (`type: "OBJECT"`) are lower-cased into JSON Schema.
import type {
  ChatCompletionContentPart,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { UnsupportedFieldError } from '../../../../shared/errors.js';
import { type GeminiPart, type GeminiRequest, syntheticId } from './types.js';

export function geminiToChat(body: GeminiRequest): ChatCompletionCreateParams {
  if (!Array.isArray(body.contents))
    throw new UnsupportedFieldError('contents', 'contents must be a list of {role, parts}');
  const messages: ChatCompletionMessageParam[] = [];
  const system = systemText(body.systemInstruction);
  if (system) messages.push({ role: 'system', content: system });
  // Calls not yet answered, oldest first, so a response without an id finds its call by name.
  const pending: { id: string; name: string }[] = [];
  body.contents.forEach((content, turn) => {
    const where = `contents[${turn}]`;
    if (content.role === 'model') {
      const calls: ChatCompletionMessageToolCall[] = [];
      let text = '';
      content.parts.forEach((part, i) => {
        if (part.thought) return;
        if (part.functionCall) {
          const id = part.functionCall.id ?? syntheticId(turn, i);
          pending.push({ id, name: part.functionCall.name });
          calls.push({
            id,
            type: 'function',
            function: {
              name: part.functionCall.name,
              arguments: JSON.stringify(part.functionCall.args ?? {}),
            },
          });
        } else if (typeof part.text === 'string') text += part.text;
        else unsupported(`${where}.parts[${i}]`, part);
      });
      // A turn of thoughts only carries nothing an upstream may be sent.
      if (text || calls.length)
        messages.push({
          role: 'assistant',
          content: text || null,
          ...(calls.length ? { tool_calls: calls } : {}),
        });
      return;
    }
    const userParts: ChatCompletionContentPart[] = [];
    content.parts.forEach((part, i) => {
      if (part.thought) return;
      if (part.functionResponse) {
        const { id, name, response } = part.functionResponse;
        const at = pending.findIndex((call) => (id ? call.id === id : call.name === name));
        const callId = id ?? (at >= 0 ? pending[at]!.id : `${name}_unmatched_${turn}_${i}`);
        if (at >= 0) pending.splice(at, 1);
        messages.push({ role: 'tool', tool_call_id: callId, content: resultText(response) });
      } else if (typeof part.text === 'string') userParts.push({ type: 'text', text: part.text });
      else if (part.inlineData?.mimeType.startsWith('image/'))
        userParts.push({
          type: 'image_url',
          image_url: { url: `data:${part.inlineData.mimeType};base64,${part.inlineData.data}` },
        });
      else unsupported(`${where}.parts[${i}]`, part);
    });
    if (userParts.length > 0)
      messages.push({
        role: 'user',
        content: userParts.every((p) => p.type === 'text')
          ? userParts.map((p) => (p as { text: string }).text).join('')
          : userParts,
      });
  });

  const tools: ChatCompletionTool[] = (body.tools ?? []).flatMap((tool, t) => {
    const extra = Object.keys(tool).filter((k) => k !== 'functionDeclarations');
    // Google-run tools (search, code execution, URL context) have no schema a chat upstream can call.
    if (extra.length > 0 && !tool.functionDeclarations) return [];
    return (tool.functionDeclarations ?? []).map((fn, f) => {
      if (!fn.name)
        throw new UnsupportedFieldError(
          `tools[${t}].functionDeclarations[${f}].name`,
          'a function needs a name',
        );
      return {
        type: 'function' as const,
        function: {
          name: fn.name,
          ...(fn.description ? { description: fn.description } : {}),
          parameters: jsonSchemaOf(
            fn.parametersJsonSchema ?? fn.parameters ?? { type: 'object', properties: {} },
          ) as Record<string, unknown>,
        },
      };
    });
  });
  const config = body.generationConfig ?? {};
  const calling = body.toolConfig?.functionCallingConfig;
  const mode = calling?.mode;
  const only = calling?.allowedFunctionNames?.length === 1 ? calling.allowedFunctionNames[0]! : null;
  // JSON output: with a schema, a structured-output request; without, JSON mode.
  const schema = config.responseJsonSchema ?? config.responseSchema;
  const responseFormat =
    config.responseMimeType === 'application/json'
      ? schema
        ? { type: 'json_schema', json_schema: { name: 'response', schema: jsonSchemaOf(schema) } }
        : { type: 'json_object' }
      : null;
  return {
    model: body.model,
    messages,
    stream: body.stream,
    ...(tools.length ? { tools } : {}),
    ...(tools.length && mode === 'ANY'
      ? { tool_choice: only ? { type: 'function', function: { name: only } } : ('required' as const) }
      : {}),
    ...(responseFormat ? { response_format: responseFormat } : {}),
    ...(tools.length && mode === 'NONE' ? { tool_choice: 'none' as const } : {}),
    ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
    ...(config.topP !== undefined ? { top_p: config.topP } : {}),
    ...(config.maxOutputTokens !== undefined ? { max_tokens: config.maxOutputTokens } : {}),
    ...(config.stopSequences?.length ? { stop: config.stopSequences } : {}),
  } as ChatCompletionCreateParams;
}

export function geminiWantsReasoning(body: GeminiRequest): boolean {
  const thinking = body.generationConfig?.thinkingConfig;
  return (
    thinking !== undefined && ((thinking.thinkingBudget ?? 0) !== 0 || thinking.includeThoughts === true)
  );
}

function systemText(system: GeminiRequest['systemInstruction']): string {
  if (system === undefined) return '';
  if (typeof system === 'string') return system;
  return system.parts.map((p) => p.text ?? '').join('');
}

function resultText(response: unknown): string {
  if (typeof response === 'string') return response;
  // Gemini CLI wraps tool output as {output: "..."}; other clients send any object.
  const output = (response as { output?: unknown } | undefined)?.output;
  return typeof output === 'string' ? output : JSON.stringify(response ?? {});
}

function unsupported(path: string, part: GeminiPart): never {
  const kind = Object.keys(part)[0] ?? 'empty part';
  throw new UnsupportedFieldError(path, `${kind} parts cannot be passed to a chat-completions upstream`);
}

/** Gemini's OpenAPI-style schema (upper-case types) as JSON Schema; JSON Schema passes unchanged. */
function jsonSchemaOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchemaOf);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === 'type' && typeof value === 'string' ? value.toLowerCase() : jsonSchemaOf(value),
    ]),
  );
}
