// The built-in `minimal` agent's tool loop (seed 004 §2.3 MinimalScaffold): bash, read, write, edit
// (exact, unique str_replace) and finish, over OpenAI tool calling. It runs on the node, not in the
// sandbox: the sandbox needs no network, and only the node talks to the gateway. Finishing states a
// confidence (seed 000: act only above 0.7), which is recorded with the step; a task's
// confidence_threshold refuses a finish below it. With a gateway, request_purchase asks to buy something
// (the agent never pays) and waits for the decision.
import { setTimeout as sleep } from 'node:timers/promises';
import { SpendRequest } from '../../../shared/domain/spend.js';
import type { Task } from '../../../shared/domain/task.js';
import { toolArgsOf } from '../../../shared/domain/tool-args.js';
import { SPEND_REQUESTS_PATH } from '../../gateway/http/spend-requests.js';
import type { Sandbox } from '../../sandbox/sandbox.js';
import { cutMiddle, headOf } from '../../trajectory/observation.js';
import { fileStateOf } from '../../verification/workspace-diff.js';
import type { ChatMessage, ToolSpec } from '../chat.js';
import type { ModelTurn } from '../model-client.js';
import type { StepResult, ToolLoop } from './tool-loop.js';

const COMMAND_TIMEOUT_SECONDS = 120;

const TOOLS: ToolSpec[] = [
  {
    name: 'bash',
    description: 'Run a shell command in the workspace. Returns the exit code, stdout and stderr.',
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'string' },
        timeout_seconds: { type: 'integer', minimum: 1, maximum: COMMAND_TIMEOUT_SECONDS },
      },
      required: ['command'],
    },
  },
  {
    name: 'read_file',
    description: 'Read a file (path relative to the workspace).',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
  {
    name: 'write_file',
    description: 'Create or overwrite a file with the given content.',
    parameters: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
  {
    name: 'edit_file',
    description: 'Replace old_str, which must occur exactly once in the file, with new_str.',
    parameters: {
      type: 'object',
      properties: { path: { type: 'string' }, old_str: { type: 'string' }, new_str: { type: 'string' } },
      required: ['path', 'old_str', 'new_str'],
    },
  },
  {
    name: 'finish',
    description:
      'Declare the task done. State how confident you are (0 to 1) that the verification tests will pass.',
    parameters: {
      type: 'object',
      properties: { summary: { type: 'string' }, confidence: { type: 'number', minimum: 0, maximum: 1 } },
      required: ['summary', 'confidence'],
    },
  },
];

/**
 * Asking to buy (seed 000: agents never pay; free alternatives first). Offered only when the agent
 * reaches a gateway, which forwards the ask to the control plane; the tool waits for the decision.
 */
const REQUEST_PURCHASE: ToolSpec = {
  name: 'request_purchase',
  description:
    'Ask to buy something the task cannot be done without (a licence, a dataset, API credits). You never ' +
    'pay: the project policy or a person decides, and this returns the decision (no answer in time is a ' +
    'denial). Look for free alternatives first and list the ones you considered.',
  parameters: {
    type: 'object',
    properties: {
      item: { type: 'string' },
      vendor: { type: 'string' },
      amount: { type: 'number', exclusiveMinimum: 0 },
      currency: { type: 'string', description: 'ISO 4217 code, e.g. CAD or USD' },
      category: { type: 'string', description: 'e.g. software, data, api-credits' },
      reason: { type: 'string' },
      free_alternatives: { type: 'array', items: { type: 'string' } },
    },
    required: ['item', 'vendor', 'amount', 'currency', 'reason', 'free_alternatives'],
  },
};

const ACTION_TYPES = {
  bash: 'execute_command',
  read_file: 'read_file',
  write_file: 'write_file',
  edit_file: 'edit_file',
  finish: 'finish',
} as const;

/**
 * A tool call the loop cannot carry out: told to the model as the observation, never thrown out of
 * this file (a local signal, so not one of shared/errors.ts's classes).
 */
class ToolError extends Error {}

export interface MinimalOptions {
  outputLimitBytes: number;
  /** The confidence a finish must state; below it the finish is refused (null: no gate). */
  confidenceThreshold: number | null;
  /** The gateway spend requests go through, with the attempt's key; null: no request_purchase tool. */
  spend?: { baseUrl: string; key: string; pollMs?: number } | null;
}

/** How often a waiting request_purchase asks whether its request was decided. */
const SPEND_POLL_MS = 1000;

export class MinimalToolLoop implements ToolLoop {
  readonly name = 'minimal';
  private sandbox: Sandbox | null = null;
  private readonly messages: ChatMessage[] = [];
  private finished = false;

  constructor(private readonly options: MinimalOptions) {}

  async initialize(sandbox: Sandbox, task: Task): Promise<void> {
    this.sandbox = sandbox;
    this.messages.push(
      {
        role: 'system',
        content:
          'You are a coding agent working in a sandboxed workspace. Use the tools to inspect and change ' +
          'files and to run commands. When the task is done, call finish with a summary and your ' +
          'confidence that hidden verification tests will pass.',
      },
      { role: 'user', content: task.instruction },
    );
  }

  availableTools(): ToolSpec[] {
    return this.options.spend ? [...TOOLS, REQUEST_PURCHASE] : TOOLS;
  }

  history(): ChatMessage[] {
    return this.messages;
  }

  isTerminal(): boolean {
    return this.finished;
  }

  async step(turn: ModelTurn, signal: AbortSignal): Promise<StepResult[]> {
    const { message } = turn;
    this.messages.push(message);
    const calls = message.tool_calls ?? [];
    if (calls.length === 0) {
      // Text only: keep the conversation going, and say how to end it.
      const nudge = 'Use the tools to make progress, or call finish when the task is done.';
      this.messages.push({ role: 'user', content: nudge });
      return [
        {
          action: {
            action_type: 'message',
            content: message.content ?? '',
            tool_name: null,
            tool_args: null,
            tool_args_raw: null,
            tool_call_id: null,
            reasoning: message.reasoning_content ?? null,
          },
          observation: { content: nudge, exit_code: null, truncated: false },
          reward: 0,
          done: false,
          files: {},
          exitCode: null,
          info: { finish_reason: turn.finishReason },
        },
      ];
    }
    const results: StepResult[] = [];
    for (const call of calls) {
      const result = await this.act(call.function.name, call.function.arguments, signal);
      this.messages.push({ role: 'tool', tool_call_id: call.id, content: result.observation.content });
      results.push({
        ...result,
        action: {
          ...result.action,
          tool_call_id: call.id,
          reasoning: results.length === 0 ? (message.reasoning_content ?? null) : null,
        },
      });
      if (this.finished) break;
    }
    return results;
  }

  private async act(name: string, rawArgs: string, signal: AbortSignal): Promise<StepResult> {
    const actionType = ACTION_TYPES[name as keyof typeof ACTION_TYPES] ?? 'tool_call';
    // The step keeps the arguments as the model wrote them, whether or not they are usable.
    const written = toolArgsOf(rawArgs);
    const base = (content: string) => ({
      action_type: actionType,
      content,
      tool_name: name,
      ...written,
      tool_call_id: null,
      reasoning: null,
    });
    try {
      return await this.run(name, parseArgs(rawArgs), signal, base);
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      return {
        action: base(rawArgs),
        observation: { content: `Error: ${error.message}`, exit_code: null, truncated: false },
        reward: 0,
        done: false,
        files: {},
        exitCode: null,
        info: { tool_error: true },
      };
    }
  }

  private async run(
    name: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
    action: (content: string) => StepResult['action'],
  ): Promise<StepResult> {
    const sandbox = this.sandbox!;
    const result = (content: string, observation: string, extra: Partial<StepResult> = {}): StepResult => {
      const shown = cutMiddle(observation);
      return {
        action: action(content),
        observation: { content: shown.text, exit_code: null, truncated: shown.truncated },
        reward: 0,
        done: false,
        files: {},
        exitCode: null,
        info: {},
        ...extra,
      };
    };
    switch (name) {
      case 'bash': {
        const command = text(args, 'command');
        const timeout = Math.min(
          Number(args.timeout_seconds ?? COMMAND_TIMEOUT_SECONDS),
          COMMAND_TIMEOUT_SECONDS,
        );
        const out = await sandbox.exec(command, {
          timeoutSeconds: timeout,
          outputLimitBytes: this.options.outputLimitBytes,
          signal,
        });
        const exit = out.timedOut ? `timed out after ${timeout} s` : `exit ${out.exitCode}`;
        const shown = `${exit}\n${out.stdout.toString()}${out.stderr.length ? `\n[stderr]\n${out.stderr.toString()}` : ''}`;
        const step = result(command, shown, { exitCode: out.exitCode });
        step.observation.exit_code = out.exitCode;
        return step;
      }
      case 'read_file': {
        const path = text(args, 'path');
        return result(path, (await this.read(path)).toString('utf8'));
      }
      case 'write_file': {
        const path = text(args, 'path');
        const content = text(args, 'content');
        const existed = await this.exists(path);
        await sandbox.writeFile(path, content);
        return result(content, `wrote ${Buffer.byteLength(content)} bytes to ${path}`, {
          files: { [path]: fileStateOf(existed ? 'modified' : 'added', content) },
        });
      }
      case 'edit_file': {
        const path = text(args, 'path');
        const oldStr = text(args, 'old_str');
        const newStr = text(args, 'new_str');
        const before = (await this.read(path)).toString('utf8');
        const at = before.indexOf(oldStr);
        if (at < 0) throw new ToolError(`old_str does not occur in ${path}`);
        if (before.indexOf(oldStr, at + 1) >= 0)
          throw new ToolError(`old_str occurs more than once in ${path}; include more context`);
        const after = before.slice(0, at) + newStr + before.slice(at + oldStr.length);
        await sandbox.writeFile(path, after);
        return result(newStr, `edited ${path}`, { files: { [path]: fileStateOf('modified', after) } });
      }
      case 'finish': {
        const confidence = Number(args.confidence);
        if (!Number.isFinite(confidence) || confidence < 0 || confidence > 1)
          throw new ToolError('confidence must be a number from 0 to 1');
        const threshold = this.options.confidenceThreshold;
        if (threshold !== null && confidence < threshold) {
          const refusal =
            `Not finished: your confidence ${confidence} is below the ${threshold} this task requires. ` +
            'Check your work (run what tests you can), fix what is wrong, then call finish again.';
          return result(text(args, 'summary'), refusal, { info: { confidence, finish_refused: true } });
        }
        this.finished = true;
        return result(text(args, 'summary'), 'finished', { done: true, info: { confidence } });
      }
      case 'request_purchase': {
        if (!this.options.spend) throw this.noSuchTool(name);
        const outcome = await requestPurchase(this.options.spend, args, signal);
        return result(text(args, 'item'), outcome.text, { info: { spend_request: outcome.request } });
      }
      default:
        throw this.noSuchTool(name);
    }
  }

  private noSuchTool(name: string): ToolError {
    const names = this.availableTools().map((t) => t.name);
    return new ToolError(`no tool named ${name}; the tools are ${names.join(', ')}`);
  }

  private async read(path: string): Promise<Buffer> {
    try {
      return await this.sandbox!.readFile(path);
    } catch (error) {
      throw new ToolError(`cannot read ${path}: ${(error as Error).message}`);
    }
  }

  private async exists(path: string): Promise<boolean> {
    return this.sandbox!.readFile(path).then(
      () => true,
      () => false,
    );
  }
}

/**
 * Sends the ask through the gateway, then waits for the decision: until the request is no longer
 * pending (an expired one reads as expired, a denial), polling its state.
 */
async function requestPurchase(
  spend: NonNullable<MinimalOptions['spend']>,
  args: Record<string, unknown>,
  signal: AbortSignal,
): Promise<{ text: string; request: SpendRequest | null }> {
  const headers = { authorization: `Bearer ${spend.key}`, 'content-type': 'application/json' };
  const asked = await fetch(`${spend.baseUrl}${SPEND_REQUESTS_PATH}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(args),
    signal,
  });
  const body = await asked.json().catch(() => null);
  if (!asked.ok) {
    const message =
      (body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${asked.status}`;
    throw new ToolError(`the request was refused: ${message}`);
  }
  let request = SpendRequest.parse(body);
  while (request.status === 'pending') {
    await sleep(spend.pollMs ?? SPEND_POLL_MS, undefined, { signal });
    const read = await fetch(`${spend.baseUrl}${SPEND_REQUESTS_PATH}/${request.id}`, { headers, signal });
    if (!read.ok) throw new ToolError(`could not read spend request ${request.id}: HTTP ${read.status}`);
    request = SpendRequest.parse(await read.json());
  }
  return { text: outcomeText(request), request };
}

function outcomeText(request: SpendRequest): string {
  const what = `${request.item} from ${request.vendor} for ${request.amount} ${request.currency}`;
  const why = request.note ? ` (${request.note})` : '';
  switch (request.status) {
    case 'approved':
      return `approved by ${request.decided_by}${why}: ${what}. It is a purchase order that a person carries out; you are not paying and nothing is bought yet. Spend request ${request.id}.`;
    case 'expired':
      return `denied: nobody decided before it expired. Do without ${what}. Spend request ${request.id}.`;
    case 'failed':
      return `approved but could not go through${why}: do without ${what}. Spend request ${request.id}.`;
    default:
      return `denied by ${request.decided_by}${why}: do without ${what}. Spend request ${request.id}.`;
  }
}

function parseArgs(raw: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(raw || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
  } catch {
    // Reported below.
  }
  throw new ToolError(`the arguments are not a JSON object: ${headOf(raw, 200)}`);
}

function text(args: Record<string, unknown>, field: string): string {
  const value = args[field];
  if (typeof value !== 'string') throw new ToolError(`${field} must be a string`);
  return value;
}
