// Typed errors shared by every component. Each AutovibeError carries a stable machine-readable `code`
// and the HTTP status the API answers with, so one `onError` can turn any of them into the JSON error
// envelope. ApiError is the other side: what a client of the API got back.

export interface ErrorDetail {
  /** Dotted path of the offending field (`resource_limits.memory_mb`), or `''` for the whole input. */
  path: string;
  problem: string;
}

export class AutovibeError extends Error {
  readonly status: number = 500;
  readonly code: string = 'internal_error';
  readonly details: ErrorDetail[];

  constructor(message: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? [];
  }
}

export class ValidationError extends AutovibeError {
  override readonly status = 400;
  override readonly code = 'validation_failed';
}

export class MalformedJsonError extends AutovibeError {
  override readonly status = 400;
  override readonly code = 'malformed_json';
}

export class UnauthorizedError extends AutovibeError {
  override readonly status = 401;
  override readonly code = 'unauthorized';
}

export class ForbiddenError extends AutovibeError {
  override readonly status = 403;
  override readonly code = 'forbidden';
}

export class NotFoundError extends AutovibeError {
  override readonly status = 404;
  override readonly code = 'not_found';
}

/** The write lost a race or the resource is in a state that forbids the change. */
export class ConflictError extends AutovibeError {
  override readonly status = 409;
  override readonly code = 'conflict';
}

/** A node reported on an attempt it no longer holds (re-queued, reassigned, cancelled or timed out). */
export class StaleAttemptError extends AutovibeError {
  override readonly status = 409;
  override readonly code = 'stale_attempt';
}

export class PayloadTooLargeError extends AutovibeError {
  override readonly status = 413;
  override readonly code = 'payload_too_large';
}

/** The request body never arrived whole: the client stopped sending, or ran out of time to. */
/** The caller's key used up its request rate (shared/services/rate-limiter.ts). */
export class RateLimitedError extends AutovibeError {
  override readonly status = 429;
  override readonly code = 'rate_limited';
  /** Whole seconds until a request would be accepted: the API's Retry-After header. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { retryAfterSeconds: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export class IncompleteRequestError extends AutovibeError {
  override readonly status = 408;
  override readonly code = 'request_incomplete';
}

/** Well-formed input that refers to something that does not exist or cannot be used. */
export class UnprocessableError extends AutovibeError {
  override readonly status = 422;
  override readonly code = 'unprocessable';
}

/** Configuration that cannot work; raised at start-up, never per request. */
export class ConfigError extends AutovibeError {
  override readonly code = 'config_invalid';
}

/** A data directory that another running `autovibe dev` holds (its lock file names the process). */
export class DataDirInUseError extends AutovibeError {
  override readonly code = 'data_dir_in_use';
}

/** Spending that the project's budget or the machine's daily allowance cannot cover. */
export class BudgetExhaustedError extends AutovibeError {
  override readonly status: number = 402;
  override readonly code: string = 'budget_exhausted';
}

/**
 * The project's budget cannot cover the spending and the project pauses (`on_budget_exhausted:
 * pause`) instead of failing: a gateway holds the call and asks again until a person grants more or
 * the pause runs out.
 */
export class BudgetPausedError extends BudgetExhaustedError {
  override readonly code = 'budget_paused';
}

/**
 * A call held while its project is paused for budget reached the longest a gateway holds one call
 * (under the SDKs' and fetch's own timeouts): the pause goes on, and the client is told to send the
 * call again (503, retryable), which waits on in the same pause.
 */
export class BudgetPauseHeldError extends AutovibeError {
  override readonly status = 503;
  override readonly code = 'budget_paused';
}

// The node agent's errors while it runs an attempt. None becomes an HTTP answer: the node reports the
// message, and the class decides whether the attempt is worth retrying (retryable unless said below).

/** The task's image is not on this node and cannot be pulled. Retrying elsewhere will not help. */
export class SandboxImageError extends AutovibeError {
  override readonly code = 'sandbox_image_unavailable';
}

/**
 * The task asks for something this node's sandboxes cannot give or may not give (root where the node
 * does not allow it, a limit its executor cannot enforce). Retrying will not help; the message names
 * the field and what would.
 */
export class SandboxRefusedError extends AutovibeError {
  override readonly code = 'sandbox_refused';
}

/**
 * The container engine failed a call or did not answer it in time (a hung engine, a frozen
 * container). Retryable: another try, or another node, may find a working engine.
 */
export class SandboxEngineError extends AutovibeError {
  override readonly code = 'sandbox_engine_failed';
}

/** The task cannot be run by this agent (no gateway, no reference solution, ...); retrying will not help. */
export class AgentSetupError extends AutovibeError {
  override readonly code = 'agent_setup_failed';
}

/** An installed CLI agent could not be fetched from npm into the node's agent cache. */
export class AgentInstallError extends AutovibeError {
  override readonly code = 'agent_install_failed';
}

/**
 * The classes an agent's failure is reported in (seed 000: rate limit, context window, budget, crash),
 * plus `model_refused` (the gateway would not make the call: an unpriced or unknown model, a field it
 * cannot honour) and `upstream` (the provider failed it).
 */
export type AgentFailureKind =
  | 'budget_exhausted'
  | 'rate_limit'
  | 'context_window'
  | 'model_refused'
  | 'upstream'
  | 'agent_crash';

/** Why an agent stopped short of finishing, whichever agent it was; the report leads with `kind`. */
export class AgentFailure extends AutovibeError {
  override readonly code: string = 'agent_failed';
  constructor(
    message: string,
    readonly kind: AgentFailureKind,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** A built-in agent's model call the gateway refused or broke (budget exhausted, rate limited, ...). */
export class ModelCallError extends AgentFailure {
  override readonly code = 'model_call_failed';
  constructor(
    message: string,
    /** The HTTP status the gateway answered the call with (`status` is this error's own, as everywhere). */
    readonly gatewayStatus: number | null,
    kind: Exclude<AgentFailureKind, 'agent_crash'>,
  ) {
    super(message, kind);
  }
}

/**
 * An error answer of the control-plane API as its clients (the CLI, the node, the gateway) see it:
 * the status it answered with, its code, message and field details; status 0 when it could not be
 * reached. Not an AutovibeError: a client decides what a failed call means for its own callers.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * An answer that came back but does not have the shape its contract (shared/contracts/) says. The
 * message names the message and the first offending field (`registration answer:
 * storage.buckets.artifacts: ...`); `details` lists every one.
 */
export class MalformedAnswerError extends ApiError {
  constructor(status: number, message: string, details: ErrorDetail[]) {
    super(status, 'malformed_answer', message, details);
  }
}

// ---- the LLM gateway and pricing ----

/**
 * An LLM provider did not answer: one try (`upstreamStatus` is what the upstream answered, null when it
 * never did), or every try of a call. The client gets a 429 or the upstream's 4xx as it is and 502 for
 * anything else. `retryable`: another try, here or at the next provider, may help; `aborted`: the
 * caller went away, so nothing more is tried.
 */
export class UpstreamError extends AutovibeError {
  override readonly status: number;
  override readonly code = 'upstream_failed';
  readonly upstreamStatus: number | null;
  readonly aborted: boolean;
  /** The message is the gateway's own words, no upstream's text in it: safe to pass on to the client. */
  readonly ownWords: boolean;

  constructor(
    message: string,
    upstreamStatus: number | null,
    options: { aborted?: boolean; ownWords?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.upstreamStatus = upstreamStatus;
    this.aborted = options.aborted ?? false;
    this.ownWords = options.ownWords ?? false;
    this.status =
      upstreamStatus !== null && upstreamStatus >= 400 && upstreamStatus < 500 ? upstreamStatus : 502;
  }

  get retryable(): boolean {
    const status = this.upstreamStatus;
    if (this.aborted) return false;
    return status === null || status === 408 || status === 409 || status === 429 || status >= 500;
  }
}

/** A body longer than its reader allows; the stream it came from has been destroyed. */
export class BodyTooLargeError extends AutovibeError {
  override readonly status = 413;
  override readonly code = 'payload_too_large';

  constructor(readonly maxBytes: number) {
    super(`body is over ${maxBytes} bytes`);
  }
}

/**
 * A request field the gateway cannot honour in the client's protocol. Answered 400 with the field named
 * in `details` (and `field`), by the same error handling as any other bad input.
 */
export class UnsupportedFieldError extends AutovibeError {
  override readonly status = 400;
  override readonly code = 'unsupported_field';

  constructor(
    readonly field: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, details: [{ path: field, problem: message }] });
  }
}

/** Every target of a cost-optimized route costs more than its per-request budget allows. */
export class OverStrategyBudgetError extends AutovibeError {
  override readonly status = 402;
  override readonly code = 'over_strategy_budget';
}

/** The model has no price, so the gateway refuses to call it rather than spend an unknown amount. */
export class UnpricedModelError extends AutovibeError {
  override readonly status = 422;
  override readonly code = 'model_unpriced';
  readonly model: string;

  constructor(model: string) {
    super(
      `Model "${model}" has no price, and the gateway refuses unpriced models. Price it in config: add ` +
        `"${model}": { "input_cost_per_token": <USD>, "output_cost_per_token": <USD> } to the pricing ` +
        "overrides (LiteLLM's model_prices_and_context_window.json fields), or list it as a local model " +
        'with gpu_hour_usd, gpus and output_tokens_per_second.',
      { details: [{ path: 'model', problem: 'no price' }] },
    );
    this.model = model;
  }
}

/** A currency with no configured rate: nothing can be priced in it, so nothing is spent. */
export class UnknownCurrencyError extends AutovibeError {
  override readonly status = 422;
  override readonly code = 'currency_unknown';
  readonly currency: string;

  constructor(currency: string, known: readonly string[]) {
    super(
      `No exchange rate for currency "${currency}" (configured: ${known.join(', ')}). Add its rate, in ` +
        `${currency} per 1 USD, to the currency rates in config.`,
      { details: [{ path: 'currency', problem: `no rate for ${currency}` }] },
    );
    this.currency = currency;
  }
}

/** Why a Proxmox VE call failed, read from PVE's own wording so callers can retry or explain. */
export type ProxmoxFailure =
  | 'auth'
  | 'permission'
  | 'lock_timeout'
  | 'already_exists'
  | 'agent_not_configured'
  | 'agent_not_running'
  | 'agent_command_disabled'
  | 'unreachable'
  | 'not_resent'
  | 'task_failed'
  | 'other';

/** A Proxmox VE API call or task failed; `reason` classifies PVE's message. Retryable. */
export class ProxmoxError extends AutovibeError {
  override readonly code = 'proxmox_failed';
  constructor(
    readonly reason: ProxmoxFailure,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** nvidia-smi ran and failed: a driver/library mismatch, no devices, output it could not be read from. */
export class GpuDiscoveryError extends AutovibeError {
  override readonly code = 'gpu_discovery_failed';
}

/** A `models:` entry that cannot be placed on this node's GPUs, or a vLLM replica that would not start. */
export class ModelPlacementError extends AutovibeError {
  override readonly status = 400;
  override readonly code = 'model_placement_refused';
}

/** A stored trajectory an export cannot write as asked: a turn whose logprobs do not match its completion tokens. */
export class ExportError extends AutovibeError {
  override readonly code = 'export_failed';
}
