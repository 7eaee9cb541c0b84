// A tool loop as an agent: its model turns go through the node's gateway with the attempt's key, it
// may take twice the task's estimated maximum of steps, and with step_rewards each step that may
// change the workspace earns the change in the visible tests passing. A local model's token ids and
// logprobs are taken from each turn's traffic record as the gateway logs it (before it answers).
import { type TurnTokens, turnTokensOf } from '../../../shared/domain/turn-tokens.js';
import { AgentSetupError } from '../../../shared/errors.js';
import { stepPotential } from '../../verification/rewards.js';
import { visiblePassFraction } from '../../verification/tests.js';
import { type Agent, type AgentContext, requestedModel } from '../agent.js';
import { GatewayModelClient } from '../model-client.js';
import { MinimalToolLoop } from './minimal.js';
import { runToolLoop, type ToolLoop } from './tool-loop.js';

export function toolLoopAgent(name: string, create: (context: AgentContext) => ToolLoop): Agent {
  return {
    name,
    async run(context) {
      const { task, llm, signal, log } = context;
      if (!llm)
        throw new AgentSetupError(`The ${name} agent needs the node's LLM gateway (gateway: in node.yaml)`);
      const loop = create(context);
      await loop.initialize(context.sandbox, task);
      const model = new GatewayModelClient(llm, requestedModel(task), { seed: context.seed });
      const maxSteps = task.estimated_steps.max * 2;
      const hasVisibleTests = task.verification_tests.some((test) => !test.hidden);
      const potential =
        task.step_rewards && hasVisibleTests
          ? async () =>
              stepPotential(
                (await visiblePassFraction(context.sandbox, task, signal)) ?? 0,
                task.reward_weights,
              )
          : undefined;
      if (task.step_rewards && !hasVisibleTests)
        log(`${name}: step_rewards asks for visible tests and the task has none; steps earn 0 until the end`);
      const captured = new Map<string, TurnTokens>();
      const untap = llm.tap((record) => {
        const tokens = record.attempt === context.attempt ? turnTokensOf(record) : null;
        if (tokens) captured.set(record.id, tokens);
      });
      // Each turn's record is taken once, when its step is recorded, so the map stays small.
      const tokens = (callId: string) => {
        const found = captured.get(callId) ?? null;
        captured.delete(callId);
        return found;
      };
      let end: Awaited<ReturnType<typeof runToolLoop>>;
      try {
        end = await runToolLoop(
          loop,
          model,
          context.trajectory,
          { maxSteps, signal, potential, tokens },
          log,
        );
      } finally {
        untap();
      }
      log(`${name}: ended (${end}) after ${context.trajectory.transitions.length} steps`);
    },
  };
}

export const minimalAgent = toolLoopAgent(
  'minimal',
  ({ outputLimitBytes, task, llm }) =>
    new MinimalToolLoop({
      outputLimitBytes,
      confidenceThreshold: task.confidence_threshold,
      spend: llm && { baseUrl: llm.baseUrl, key: llm.key },
    }),
);
