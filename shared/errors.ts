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
