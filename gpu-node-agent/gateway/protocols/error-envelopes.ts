// How each client protocol says something went wrong: OpenAI's `{error: {message, type, param, code}}`,
// Anthropic's `{type: 'error', error: {type, message}}` and Google's `{error: {code, message, status}}`,
// with each API's own names for the HTTP statuses. Whole answers, streams that end in an error and the
// server's own refusals all use these, so a client's SDK raises its usual error class for every one.

// ---- OpenAI (Chat Completions, Responses) ----

export function openAiErrorBody(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}

/** OpenAI error `type` for a status, as OpenAI's own API names them. */
function openAiErrorType(status: number, code: string): string {
  if (code === 'budget_exhausted') return 'insufficient_quota';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A call's failure as OpenAI reports it. */
export function openAiError(status: number, code: string, message: string, param: string | null = null) {
  return openAiErrorBody(message, openAiErrorType(status, code), param, code);
}

// ---- Anthropic Messages ----

/** Anthropic's error type for each HTTP status the gateway answers with. */
export const ANTHROPIC_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export function anthropicErrorBody(
  type: string,
  message: string,
): { type: 'error'; error: { type: string; message: string } } {
  return { type: 'error', error: { type, message } };
}

/** Anthropic answers an exhausted budget with `billing_error`, which Claude Code shows and does not retry. */
export function anthropicCallErrorType(status: number, code: string): string {
  return code === 'budget_exhausted' || status === 402 ? 'billing_error' : anthropicErrorType(status);
}

// ---- Gemini ----

/** Google's status name for each HTTP status (google.rpc.Code), as its API reports errors. */
const GOOGLE_STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'RESOURCE_EXHAUSTED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function geminiErrorBody(status: number, code: string, message: string) {
  const name = GOOGLE_STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
  return { error: { code: status, message, status: name, details: [{ reason: code }] } };
}

// ---- before a call reaches a protocol ----

/**
 * The server's own refusals (a body it cannot read, a key count_tokens does not know), in the protocol
 * the path belongs to. Coarser than a call's errors: Anthropic clients get authentication_error for a
 * 401 and invalid_request_error for the rest, OpenAI clients invalid_request_error for all.
 */
export function requestErrorBody(path: string, status: number, code: string, message: string): unknown {
  if (path.startsWith('/v1/messages'))
    return anthropicErrorBody(status === 401 ? 'authentication_error' : 'invalid_request_error', message);
  if (path.includes('/models/')) return geminiErrorBody(status, code, message);
  return openAiErrorBody(message, 'invalid_request_error', null, code);
}

/** No route for the method and path; said the OpenAI way, which every SDK reads as an API error. */
export function noRouteBody(method: string | undefined, path: string) {
  return openAiErrorBody(`No route ${method} ${path}`, 'not_found_error', null, 'not_found');
}
