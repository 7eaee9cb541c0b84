// Local models through the gateway: the supervisor's ready replicas (vllm stand-in) served under the
// model's name and its thinking partner, an attempt's calls kept on one replica, and token ids and
// logprobs kept per turn in the traffic log, with whether a turn's prompt extends the previous turn.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../gpu-node-agent/gateway/server.js';
import { LocalModel } from '../../gpu-node-agent/models/config.js';
import type { ModelSupervisor } from '../../gpu-node-agent/models/supervisor.js';
import type { TrafficRecord } from '../../shared/domain/traffic.js';
import type { TestPlane } from '../helpers/stack.js';
import { type LocalModelStack, startLocalModelStack } from './local-model-stack.js';

let stack: LocalModelStack;
let t: TestPlane;
let supervisor: ModelSupervisor;
let gateway: RunningGateway;
const written: TrafficRecord[] = [];

beforeAll(async () => {
  stack = await startLocalModelStack({
    name: 'local-models',
    models: [
      LocalModel.parse({
        name: 'coder',
        normal: { model: 'Qwen/Qwen2.5-Coder-7B-Instruct' },
        thinking: { model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B' },
        memory_mb: 20000,
        replicas: 2,
        gpu_hour_usd: 3.6,
        output_tokens_per_second: 100,
      }),
    ],
    // Answers take a moment (a few tokens: a second or more), so a call started while another streams
    // finds it still running on its replica even on a loaded machine.
    tokenMs: 250,
    portsFrom: 20_000,
    // The traffic records the gateway writes, kept here as well as sent on.
    blobs: (link) => ({
      async put(key: string, body: Uint8Array, contentType: string) {
        for (const line of Buffer.from(body).toString('utf8').trim().split('\n'))
          if (key.startsWith('traffic-logs/')) written.push(JSON.parse(line));
        await link.put(key, body, contentType);
      },
    }),
  });
  ({ t, supervisor, gateway } = stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

let made: OpenAI | undefined;
async function client(): Promise<OpenAI> {
  if (made) return made;
  await t.plane.projects.create({ id: 'rl', name: 'rl', currency: 'USD', budget_limit: 10 });
  const { key } = await t.plane.keys.create(
    { name: 'gw', role: 'gateway', binding: { kind: 'user', project_id: 'rl' } },
    'test',
  );
  made = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1` });
  return made;
}

/** Completions each replica of `coder` answered, by replica id (its readiness probe left out). */
async function answeredByReplica(): Promise<Record<string, number>> {
  const replicas = supervisor.status().filter((r) => r.served === 'coder');
  const counts = await Promise.all(
    replicas.map(async (r) => {
      const text = await (await fetch(`${r.url}/metrics`)).text();
      return Number(/vllm:request_success_total\{[^}]*\} (\d+)/.exec(text)![1]) - 1;
    }),
  );
  return Object.fromEntries(replicas.map((r, i) => [r.id, counts[i]!]));
}

describe('local models in the gateway', () => {
  it('keeps token ids and logprobs per turn, marks a prompt that extends the last turn, and sticks to one replica', async () => {
    const openai = await client();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'write hello.sh' }];
    const first = await openai.chat.completions.create({ model: 'coder', messages });
    expect(first.choices[0]!.message.content).toBe('ok: write hello.sh');
    messages.push(
      { role: 'assistant', content: first.choices[0]!.message.content },
      { role: 'user', content: 'now run it' },
    );
    const stream = await openai.chat.completions.create({ model: 'coder', messages, stream: true });
    for await (const _ of stream);
    await gateway.traffic.flush();
    const [one, two] = written.filter((r) => r.model_requested === 'coder');
    expect(one!.token_ids!.prompt_token_ids!.length).toBe(one!.usage.prompt_tokens);
    expect(one!.token_ids!.completion_token_ids!.length).toBe(one!.usage.completion_tokens);
    expect(one!.token_ids!.logprobs!.length).toBe(one!.token_ids!.completion_token_ids!.length);
    expect(one!.token_ids!.extends_previous).toBeNull();
    expect(two!.token_ids!.extends_previous).toBe(true);
    expect(two!.token_ids!.prompt_token_ids!.slice(0, one!.token_ids!.prompt_token_ids!.length)).toEqual(
      one!.token_ids!.prompt_token_ids,
    );
    // Both calls of the conversation went to the same replica: its counter saw two requests.
    expect(Object.values(await answeredByReplica()).sort()).toEqual([0, 2]);
  });

  it('spreads the conversations one key runs at once over the replicas, each kept on its replica', async () => {
    const openai = await client();
    // The first test's last call can still count as running on its replica in the pool until the next
    // scrape, which would tilt the first pick here: start from idle replicas, as read by the pool.
    for (const end = Date.now() + 10_000; Date.now() < end; ) {
      const loads = supervisor.status().filter((r) => r.served === 'coder');
      if (loads.every((r) => r.state === 'ready' && r.load?.running === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await answeredByReplica();
    const opening = ['fix the parser', 'add a test for the lexer'];
    // The first conversation is running (its first chunk is here) when the second one starts.
    const running = await openai.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: opening[0]! }],
      stream: true,
    });
    const chunks = running[Symbol.asyncIterator]();
    let firstText = (await chunks.next()).value?.choices[0]?.delta.content ?? '';
    const second = await openai.chat.completions.create({
      model: 'coder',
      messages: [{ role: 'user', content: opening[1]! }],
    });
    for (let next = await chunks.next(); !next.done; next = await chunks.next())
      firstText += next.value.choices[0]?.delta.content ?? '';
    const replies = [firstText, second.choices[0]!.message.content];
    const afterFirst = await answeredByReplica();
    const grew = (from: Record<string, number>, to: Record<string, number>) =>
      Object.keys(to)
        .map((id) => to[id]! - from[id]!)
        .sort();
    // One key (an RL trainer's, say) running two rollouts at once: one per replica, not both on one.
    expect(grew(before, afterFirst)).toEqual([1, 1]);
    // Each conversation's next turn goes back to its own replica (its prefix cache): one each.
    const secondOn: string[] = [];
    for (const [i, content] of opening.entries()) {
      const where = await answeredByReplica();
      await openai.chat.completions.create({
        model: 'coder',
        messages: [
          { role: 'user', content },
          { role: 'assistant', content: replies[i]! },
          { role: 'user', content: 'go on' },
        ],
      });
      const moved = Object.entries(await answeredByReplica()).filter(([id, n]) => n !== where[id]);
      expect(moved).toHaveLength(1);
      secondOn.push(moved[0]![0]);
    }
    expect(new Set(secondOn).size).toBe(2);
    // And each second turn is marked as extending its own conversation's first, not the other's.
    await gateway.traffic.flush();
    const seconds = written.filter((r) => r.model_requested === 'coder').slice(-2);
    expect(seconds.map((r) => r.token_ids!.extends_previous)).toEqual([true, true]);
  });
});
