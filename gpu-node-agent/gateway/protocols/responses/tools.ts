// The tools of a Responses request in chat-completions form, and the way back from a chat tool call to
// the Responses item the client offered the tool as.
//
// Current Codex CLI declares its tools in an `additional_tools` input item rather than in `tools`, groups
// them in namespaces (`functions`, `clock`, ...) and offers freeform `custom` tools whose input is raw
// text, some constrained by a Lark grammar (its JavaScript `exec`). Chat upstreams know only flat JSON
// function tools, so:
//
// - a namespaced tool goes up as `<namespace>__<name>` (the separator Codex itself uses for nested tool
//   identifiers); the way back is a lookup in this table, never a split, so names holding `__` round-trip
//   too, and two tools that would share a chat name are refused;
// - a custom tool goes up as a function taking one string, `{"input": "..."}`; its grammar, which a chat
//   upstream cannot enforce, is given to the model in that parameter's description;
// - the model's call comes back as the item the tool was offered as: a `custom_tool_call` with the raw
//   `input` string, or a `function_call`, each with its original name and namespace.
//
// Hosted tools (web search, file search, code interpreter, MCP, ...) cannot run on a chat upstream: they
// are left out rather than failing the request, so a client that offers them still gets answers.
import type {
  ChatCompletionFunctionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type {
  CustomTool,
  NamespaceTool,
  ResponseCreateParams,
  ResponseInputItem,
  Tool,
} from 'openai/resources/responses/responses';
import type { CustomToolInputFormat } from 'openai/resources/shared';
import { UnsupportedFieldError } from '../../../../shared/errors.js';

/** What a chat tool name stands for in the client's terms. */
export interface ToolOrigin {
  kind: 'function' | 'custom';
  name: string;
  namespace?: string;
}

const NAMESPACE_SEPARATOR = '__';

/** The single parameter a custom tool's raw input travels in. */
const CUSTOM_INPUT = 'input';

type FunctionLike = Extract<Tool, { type: 'function' }> | NamespaceTool.Function;

export class ResponsesToolset {
  readonly chatTools: ChatCompletionFunctionTool[] = [];
  readonly #origins = new Map<string, ToolOrigin>();

  /** The tools of `tools` and of every `additional_tools` input item, in the order the client gave them. */
  static of(body: ResponseCreateParams): ResponsesToolset {
    const set = new ResponsesToolset();
    (body.tools ?? []).forEach((tool, i) => {
      set.#add(tool, `tools[${i}]`);
    });
    if (Array.isArray(body.input)) {
      body.input.forEach((item, i) => {
        if (item.type !== 'additional_tools') return;
        const extra = item as ResponseInputItem.AdditionalTools;
        if (!Array.isArray(extra.tools)) {
          throw new UnsupportedFieldError(`input[${i}].tools`, 'additional_tools needs a tools array');
        }
        extra.tools.forEach((tool, j) => {
          set.#add(tool, `input[${i}].tools[${j}]`);
        });
      });
    }
    return set;
  }

  /** The name a tool goes upstream as. */
  chatName(name: string, namespace?: string | null): string {
    return namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name;
  }

  /** The tool a chat call names; undefined for a name the client never offered (passed on as a function). */
  origin(chatName: string): ToolOrigin | undefined {
    return this.#origins.get(chatName);
  }

  /** A custom tool call's arguments in the chat form the upstream saw the tool in. */
  static customArguments(input: string): string {
    return JSON.stringify({ [CUSTOM_INPUT]: input });
  }

  /**
   * A custom tool call's raw input from the chat arguments. A model that ignored the wrapper and wrote
   * the raw text itself is taken at its word: the text is the input.
   */
  static customInput(args: string): string {
    try {
      const parsed: unknown = JSON.parse(args);
      const input = (parsed as Record<string, unknown> | null)?.[CUSTOM_INPUT];
      if (typeof input === 'string') return input;
    } catch {
      // Not JSON: the raw text is the input.
    }
    return args;
  }

  /** `tool_choice` in chat form; a choice naming a hosted tool is dropped with it (the upstream's auto). */
  toolChoice(choice: ResponseCreateParams['tool_choice']): ChatCompletionToolChoiceOption | undefined {
    if (choice === undefined || typeof choice === 'string') return choice;
    if (choice.type === 'function' || choice.type === 'custom') {
      return { type: 'function', function: { name: this.#chatNameOf(choice.name) } };
    }
    if (choice.type === 'allowed_tools') {
      const tools = choice.tools
        .filter((t) => (t.type === 'function' || t.type === 'custom') && typeof t.name === 'string')
        .map((t) => ({ type: 'function', function: { name: this.#chatNameOf(t.name as string) } }));
      return { type: 'allowed_tools', allowed_tools: { mode: choice.mode, tools } };
    }
    return undefined;
  }

  /** A choice names a tool without its namespace: the one tool of that name, namespaced or not. */
  #chatNameOf(name: string): string {
    if (this.#origins.has(name)) return name;
    for (const [chatName, origin] of this.#origins) if (origin.name === name) return chatName;
    return name;
  }

  #add(tool: Tool, path: string, namespace?: NamespaceTool): void {
    switch (tool.type) {
      case 'function':
        this.#addFunction(tool, path, namespace);
        return;
      case 'custom':
        this.#addCustom(tool, path, namespace);
        return;
      case 'namespace':
        if (namespace) throw new UnsupportedFieldError(path, 'namespaces cannot nest');
        if (!tool.name) throw new UnsupportedFieldError(`${path}.name`, 'a namespace needs a name');
        tool.tools.forEach((inner, k) => {
          this.#add(inner as Tool, `${path}.tools[${k}]`, tool);
        });
        return;
      default:
        return;
    }
  }

  #addFunction(tool: FunctionLike, path: string, namespace?: NamespaceTool): void {
    const description = describe(tool.description, namespace);
    const strict = 'strict' in tool ? tool.strict : undefined;
    this.#push(path, { kind: 'function', name: tool.name, namespace: namespace?.name }, (name) => ({
      name,
      ...(description && { description }),
      ...(tool.parameters != null && { parameters: tool.parameters as Record<string, unknown> }),
      ...(strict != null && { strict }),
    }));
  }

  #addCustom(tool: CustomTool, path: string, namespace?: NamespaceTool): void {
    const description = describe(tool.description, namespace);
    this.#push(path, { kind: 'custom', name: tool.name, namespace: namespace?.name }, (name) => ({
      name,
      ...(description && { description }),
      parameters: {
        type: 'object',
        properties: { [CUSTOM_INPUT]: { type: 'string', description: inputDescription(tool.format) } },
        required: [CUSTOM_INPUT],
        additionalProperties: false,
      },
    }));
  }

  #push(
    path: string,
    origin: ToolOrigin,
    definition: (chatName: string) => ChatCompletionFunctionTool['function'],
  ): void {
    if (!origin.name) throw new UnsupportedFieldError(`${path}.name`, 'a tool needs a name');
    const chatName = this.chatName(origin.name, origin.namespace);
    if (this.#origins.has(chatName)) {
      throw new UnsupportedFieldError(
        `${path}.name`,
        `tool '${chatName}' is offered twice (a namespaced tool goes upstream as namespace${NAMESPACE_SEPARATOR}name)`,
      );
    }
    this.#origins.set(chatName, origin);
    this.chatTools.push({ type: 'function', function: definition(chatName) });
  }
}

/** A namespace's description, which chat has no place for, leads each of its tools' descriptions. */
function describe(description: string | null | undefined, namespace?: NamespaceTool): string {
  return [namespace?.description, description].filter((d) => d).join('\n\n');
}

function inputDescription(format: CustomToolInputFormat | undefined): string {
  const raw = 'The raw input text of this freeform tool (not JSON unless the tool asks for JSON).';
  if (format?.type !== 'grammar') return raw;
  return `${raw} It must match this ${format.syntax} grammar:\n${format.definition}`;
}
