// Server-sent events as the client protocols frame them: an optional event name and one JSON payload.

export interface SseEvent {
  event?: string;
  data: string;
}

export function formatSse(e: SseEvent): string {
  // A payload line break would end the field early; SSE carries multi-line data as repeated `data:` lines.
  // JSON never holds one (it escapes them), so the usual payload is framed without splitting it.
  const data = e.data.includes('\n')
    ? e.data
        .split('\n')
        .map((line) => `data: ${line}`)
        .join('\n')
    : `data: ${e.data}`;
  return e.event === undefined ? `${data}\n\n` : `event: ${e.event}\n${data}\n\n`;
}

/** An SSE event whose name is the payload's `type`, which is how both Anthropic and Responses frame events. */
export function typedSse(payload: { type: string }): SseEvent {
  return { event: payload.type, data: JSON.stringify(payload) };
}
