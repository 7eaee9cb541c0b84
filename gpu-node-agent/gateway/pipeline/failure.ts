// A call that could not be served, as the client is told: status, code, message and the field at fault.
import { ApiError, AutovibeError } from '../../../shared/errors.js';

export interface Failure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly param: string | null;
}

export function failureOf(error: unknown): Failure {
  if (error instanceof AutovibeError) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      param: error.details[0]?.path || null,
    };
  }
  if (error instanceof ApiError) {
    // The control plane (keys, budget) could not answer: the call is refused, never made unbudgeted.
    const message = `The control plane could not be reached to check the key or the budget: ${error.message}`;
    return { status: 503, code: 'control_plane_unavailable', message, param: null };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, code: 'internal_error', message, param: null };
}
