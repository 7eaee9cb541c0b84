import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_RECORDING } from '../../functions/local/dev-models.js';
import { ReplayProvider } from '../../gpu-node-agent/gateway/upstreams/replay.js';
import { tempDir } from '../helpers/stack.js';

const user = { role: 'user' as const, content: 'Write hello.sh' };
const assistant = { role: 'assistant' as const, content: 'ok' };

describe('the replay provider', () => {
  const provider = new ReplayProvider('replay', EXAMPLE_RECORDING);

  it('answers the n-th turn of a conversation with the n-th recorded agent step', async () => {
    const first = await provider.complete({ model: 'default', messages: [user] });
    expect(first.choices[0]!.message.tool_calls).toEqual([
      {
        id: 'call_write_hello',
        type: 'function',
        function: {
          name: 'write_file',
          arguments: JSON.stringify({ path: 'hello.sh', content: '#!/bin/sh\necho "Hello, autovibe!"\n' }),
        },
      },
    ]);
    expect(first.choices[0]!.finish_reason).toBe('tool_calls');
    expect(first.usage).toMatchObject({ prompt_tokens: 612, completion_tokens: 58 });

    const third = await provider.complete({ model: 'default', messages: [user, assistant, assistant] });
    expect(third.choices[0]!.message.tool_calls![0]).toMatchObject({ function: { name: 'finish' } });
  });

  it('streams the same turn as chunks, with usage last', async () => {
    const chunks = [];
    for await (const chunk of await provider.stream({
      model: 'default',
      messages: [user, assistant],
      stream: true,
    }))
      chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.content).toBe('Now make it executable and check its output.');
    expect(chunks[1]!.choices[0]!.delta.tool_calls![0]).toMatchObject({
      id: 'call_run_hello',
      function: { name: 'bash' },
    });
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 705, completion_tokens: 41 });
  });

  it('says so when a conversation runs past the recording, or the file is no trajectory', async () => {
    await expect(
      provider.complete({ model: 'default', messages: [user, assistant, assistant, assistant] }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('has 3 agent turns; turn 4') });
    const dir = await tempDir('autovibe-replay-');
    const notAtif = join(dir, 'x.json');
    await writeFile(notAtif, '{"hello": 1}');
    await expect(
      new ReplayProvider('replay', notAtif).complete({ model: 'default', messages: [user] }),
    ).rejects.toThrow(/is not an ATIF trajectory/);
  });
});
