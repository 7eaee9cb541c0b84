// A local LLM provider for tests: a real HTTP server speaking OpenAI chat completions (JSON and SSE
// streams, tool calls, usage), answering each call from a script, and recording what it was sent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  /** Fail with this HTTP status instead of answering. */
  status?: number;
  text?: string;
  reasoning?: string;
  toolCalls?: { id: string; name: string; arguments: string }[];
  usage?: {
    prompt_tokens: number;
    completion_tokens: number;
    cached_tokens?: number;
    reasoning_tokens?: number;
  };
  /** Stream this many extra filler chunks of `fillerText`, ignoring max_tokens (a runaway upstream). */
  filler?: { chunks: number; text: string };
  /** Pause between stream chunks. */
  chunkDelayMs?: number;
  /** Pause before answering at all (a model that takes its time). */
  delayMs?: number;
  /** vLLM's token ids and logprobs. */
  tokenIds?: { prompt: number[]; completion: number[] };
}

export interface ScriptedUpstream {
  url: string;
  /** Bodies of the calls received, in order. */
  calls: Record<string, any>[];
  close(): Promise<void>;
}

/** `script` answers each call; by default "ok" with a fixed usage. */
export async function startScriptedUpstream(
  script: (body: Record<string, any>, index: number) => Reply = () => ({ text: 'ok' }),
): Promise<ScriptedUpstream> {
  const calls: Record<string, any>[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.url?.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [] }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    const index = calls.length;
    calls.push(body);
    const reply = script(body, index);
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.status && reply.status >= 400) {
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: `scripted failure ${reply.status}`, type: 'server_error' } }),
      );
      return;
    }
    const usage = reply.usage ?? { prompt_tokens: 10, completion_tokens: 5 };
    const wireUsage = {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
      completion_tokens_details: { reasoning_tokens: usage.reasoning_tokens ?? 0 },
    };
    const id = `chatcmpl-${index}`;
    const created = Math.floor(Date.now() / 1000);
    const toolCalls = reply.toolCalls?.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
    const finish = toolCalls?.length ? 'tool_calls' : 'stop';
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: reply.text ?? null,
                tool_calls: toolCalls,
                reasoning_content: reply.reasoning,
              },
              finish_reason: finish,
              logprobs: reply.tokenIds
                ? {
                    content: reply.tokenIds.completion.map((t) => ({
                      token: `t${t}`,
                      logprob: -0.5,
                      bytes: null,
                      top_logprobs: [],
                    })),
                  }
                : null,
              ...(reply.tokenIds ? { token_ids: reply.tokenIds.completion } : {}),
            },
          ],
          usage: wireUsage,
          ...(reply.tokenIds ? { prompt_token_ids: reply.tokenIds.prompt } : {}),
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = async (chunk: Record<string, unknown>) => {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, ...chunk })}\n\n`,
      );
      if (reply.chunkDelayMs) await new Promise((r) => setTimeout(r, reply.chunkDelayMs));
    };
    const choice = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({
      choices: [{ index: 0, delta, finish_reason }],
    });
    await send({
      ...choice({ role: 'assistant', content: '' }),
      ...(reply.tokenIds ? { prompt_token_ids: reply.tokenIds.prompt } : {}),
    });
    if (reply.reasoning) await send(choice({ reasoning_content: reply.reasoning }));
    if (reply.text) {
      const words = reply.text.split(/(?<= )/);
      for (const word of words) await send(choice({ content: word }));
    }
    for (let i = 0; i < (reply.filler?.chunks ?? 0); i++) {
      if (res.destroyed) return;
      await send(choice({ content: reply.filler!.text }));
    }
    for (const [i, call] of (reply.toolCalls ?? []).entries()) {
      await send(
        choice({
          tool_calls: [
            { index: i, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        }),
      );
      const half = Math.ceil(call.arguments.length / 2);
      for (const part of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
        await send(choice({ tool_calls: [{ index: i, function: { arguments: part } }] }));
      }
    }
    const last = choice({}, finish);
    if (reply.tokenIds) {
      (last.choices[0] as Record<string, unknown>).token_ids = reply.tokenIds.completion;
      (last.choices[0] as Record<string, unknown>).logprobs = {
        content: reply.tokenIds.completion.map((t) => ({
          token: `t${t}`,
          logprob: -0.5,
          bytes: null,
          top_logprobs: [],
        })),
      };
    }
    await send(last);
    if (body.stream_options?.include_usage) await send({ choices: [], usage: wireUsage });
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
