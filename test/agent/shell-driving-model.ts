// A scripted model that drives any CLI agent through the gateway: it finds the agent's shell tool and
// calls it with the command that solves the hello task, whatever argument shape the tool asks for.
import type { Reply } from '../helpers/scripted-upstream.js';

export const HELLO = `printf '#!/bin/sh\\necho "Hello, autovibe!"\\n' > hello.sh && chmod +x hello.sh && sh hello.sh`;

/**
 * A model that drives any CLI agent: it finds the agent's shell tool and calls it with the command
 * that solves the hello task, answering in whatever argument shape the tool's schema asks for; once a
 * tool result is back it says it is done. Calls without tools (titles) get a short text.
 */
export function shellDrivingModel(body: Record<string, any>): Reply {
  const tools: any[] = body.tools ?? [];
  if (tools.length === 0) return { text: 'Hello task', usage: { prompt_tokens: 50, completion_tokens: 3 } };
  if (body.messages.some((m: any) => m.role === 'tool'))
    return {
      text: 'Done: hello.sh prints the greeting.',
      usage: { prompt_tokens: 3000, completion_tokens: 12 },
    };
  // Codex at its default model offers no shell tool of its own: a freeform `exec` tool runs
  // JavaScript in which its other tools are functions (the gateway flattens its namespace).
  const codeMode = tools.find((t) => t.function.name === 'functions__exec');
  if (codeMode) {
    const source = `const r = await tools.exec_command({ cmd: ${JSON.stringify(HELLO)} });\ntext(JSON.stringify(r));`;
    return {
      text: 'I will write hello.sh.',
      toolCalls: [
        { id: 'call_hello', name: codeMode.function.name, arguments: JSON.stringify({ input: source }) },
      ],
      usage: { prompt_tokens: 2500, completion_tokens: 40 },
    };
  }
  const shell = tools.find((t) =>
    /^(bash|exec_command|shell|shell_command|run_shell_command)$/i.test(t.function.name),
  );
  if (!shell) throw new Error(`no shell tool among ${tools.map((t) => t.function.name).join(', ')}`);
  const properties = shell.function.parameters?.properties ?? {};
  const args = properties.cmd
    ? { cmd: HELLO }
    : properties.command?.type === 'array'
      ? { command: ['sh', '-c', HELLO] }
      : { command: HELLO, description: 'Write and run hello.sh' };
  return {
    text: 'I will write hello.sh.',
    toolCalls: [{ id: 'call_hello', name: shell.function.name, arguments: JSON.stringify(args) }],
    usage: { prompt_tokens: 2500, completion_tokens: 40 },
  };
}
