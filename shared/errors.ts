// Typed errors shared by every component. Each carries a stable machine-readable `code` and the HTTP
// status the API answers with, so one `onError` can turn any of them into the JSON error envelope.

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
