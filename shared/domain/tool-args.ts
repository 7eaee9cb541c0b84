// Tool-call arguments as the model wrote them and as they parse. Training data must hold the text the
// model produced, byte for byte: re-serialising the parsed arguments loses its spacing, key order and
// number forms, and arguments that are not JSON at all would be lost outright. So a step keeps both:
// `tool_args`, what the text parses to (null where it does not parse), and `tool_args_raw`, the text
// itself wherever JSON.stringify(tool_args) would not give it back exactly (null where it would, so
// the common case is not stored twice). ATIF's tool call takes an object as `arguments` (Harbor's
// ToolCall: `dict[str, Any]`) and the text goes in the call's `extra.raw_arguments` (ATIF v1.7).
import type { AtifToolCall } from './atif.js';

/**
 * Arguments nested deeper than this go into ATIF as text only: JSON readers stop at a depth (the
 * ujson that Hugging Face `datasets` reads JSON Lines with, at 1024 levels), and one such call would
 * make a whole export unloadable. No real tool's arguments come near it.
 */
export const MAX_ARGUMENTS_DEPTH = 64;

export interface ToolArgs {
  tool_args: unknown;
  tool_args_raw: string | null;
}

/**
 * An escaped half surrogate pair (`"\ud83d"`): JSON.stringify gives it back, but parsed it is a string
 * no UTF-8 export can hold (exports write U+FFFD), so only the text keeps what the model wrote.
 */
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** Arguments text as the step keeps it. */
export function toolArgsOf(text: string): ToolArgs {
  try {
    const parsed: unknown = JSON.parse(text);
    const givenBack = JSON.stringify(parsed) === text && !ESCAPED_SURROGATE.test(text);
    return { tool_args: parsed, tool_args_raw: givenBack ? null : text };
  } catch {
    return { tool_args: null, tool_args_raw: text };
  }
}

/**
 * A step's arguments as ATIF's tool call holds them: an object, and the text the model wrote in
 * `extra.raw_arguments` where the object does not give it back (and alone, with `{}`, for arguments
 * nested past MAX_ARGUMENTS_DEPTH). A step written before the text was kept holds unparsable text as
 * a string in `tool_args`.
 */
export function atifArgumentsOf(
  action: Partial<ToolArgs>,
): Pick<AtifToolCall, 'arguments'> & { extra?: { raw_arguments: string } } {
  const args = action.tool_args ?? null;
  const object = isPlainObject(args) && !deeperThan(args, MAX_ARGUMENTS_DEPTH);
  const raw =
    action.tool_args_raw ??
    (object || args === null ? null : typeof args === 'string' ? args : JSON.stringify(args));
  return {
    arguments: object ? args : {},
    ...(raw === null ? {} : { extra: { raw_arguments: raw } }),
  };
}

/** The arguments text of an ATIF tool call, as the model wrote it. */
export function argumentsTextOf(call: AtifToolCall): string {
  const raw = call.extra?.raw_arguments;
  if (typeof raw === 'string') return raw;
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {});
}

/** Whether `value` nests objects or arrays more than `levels` deep (looks no deeper than that). */
function deeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  return Object.values(value).some((v) => deeperThan(v, levels - 1));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
