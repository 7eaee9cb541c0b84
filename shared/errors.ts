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

/** Well-formed input that refers to something that does not exist or cannot be used. */
export class UnprocessableError extends AutovibeError {
  override readonly status = 422;
  override readonly code = 'unprocessable';
}

/** Configuration that cannot work; raised at start-up, never per request. */
export class ConfigError extends AutovibeError {
  override readonly code = 'config_invalid';
}

/** Spending that the project's budget or the machine's daily allowance cannot cover. */
export class BudgetExhaustedError extends AutovibeError {
  override readonly status = 402;
  override readonly code = 'budget_exhausted';
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

/** The classes an agent's failure is reported in (seed 000: rate limit, context window, budget, crash). */
export type AgentFailureKind =
  | 'budget_exhausted'
  | 'rate_limit'
  | 'context_window'
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
