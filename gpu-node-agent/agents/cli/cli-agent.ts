// A CLI agent recipe as an agent: installed before the sandbox is made (so it can be mounted in), run
// in the sandbox where every model call it makes goes through the gateway, and its trajectory rebuilt
// from those calls when it exits. A failed run is classified from the gateway's code on its last model
// call (budget exhausted, rate limit, model refused, ...; failure.ts), or else counts as a crash.
import type { TrafficRecord } from '../../../shared/domain/traffic.js';
import { AgentFailure, AgentSetupError } from '../../../shared/errors.js';
import { SPEND_REQUESTS_PATH } from '../../gateway/http/spend-requests.js';
import { TASK_ROUTE_MODEL } from '../../gateway/routing/task-route.js';
import { toBuffer } from '../../sandbox/tar.js';
import { stepsFromTraffic, withFileChanges } from '../../trajectory/from-traffic.js';
import { fileChanges } from '../../verification/workspace-diff.js';
import type { Agent, AgentContext } from '../agent.js';
import { classifyFailure } from '../failure.js';
import type { AgentInstaller } from './installer.js';
import type { CliAgentRecipe, CliRunContext } from './recipes.js';
import { NOT_INSTALLED, runScript } from './run-script.js';

/** The output kept from a CLI agent's run for its log and for classifying a failure. */
const OUTPUT_KEPT_BYTES = 256 * 1024;

/** Where a sandbox sees the agent's install (read-only); the local runner uses the cache's own path. */
function installMount(recipe: CliAgentRecipe): string {
  return `/opt/autovibe/agents/${recipe.name}`;
}

/**
 * How a CLI agent asks to buy something (seed 000: agents never pay; free first), appended to its
 * prompt: the node gateway's spend-request endpoint, reached with the attempt's own key, both in the
 * environment the run script sets.
 */
export const PURCHASE_HELP = [
  'If the task cannot be done without buying something (a licence, a dataset, API credits), you may ask;',
  'you never pay. Look for free alternatives first. Ask with:',
  `curl -s -X POST "$AUTOVIBE_GATEWAY_URL${SPEND_REQUESTS_PATH}" -H "Authorization: Bearer $AUTOVIBE_TASK_KEY"`,
  `-H 'content-type: application/json' -d '{"item": "...", "vendor": "...", "amount": 12.5, "currency": "CAD",`,
  `"category": "data", "reason": "...", "free_alternatives": ["what you tried and why it does not do"]}'`,
  'The answer has an id and a status. While the status is pending, read it again with',
  `curl -s "$AUTOVIBE_GATEWAY_URL${SPEND_REQUESTS_PATH}/<id>" -H "Authorization: Bearer $AUTOVIBE_TASK_KEY".`,
  'approved: a person buys it for you later; denied, expired or failed: do without it.',
].join('\n');

export function cliAgent(recipe: CliAgentRecipe, installer: AgentInstaller): Agent {
  const { install } = recipe;
  const what =
    install.kind === 'npm' ? `${install.package.name}@${install.package.version}` : install.command;
  return {
    name: recipe.name,
    // An agent the task's image provides has no version autovibe pinned.
    version: install.kind === 'npm' ? install.package.version : 'unpinned',
    // Installed before the sandbox exists, so it can be mounted in; the sandbox calls the gateway.
    async sandboxNeeds() {
      if (install.kind === 'image') return { gatewayAccess: true, mounts: [] };
      const installDir = await installer.install(install.package);
      return { gatewayAccess: true, mounts: [{ source: installDir, target: installMount(recipe) }] };
    },
    async run(context: AgentContext) {
      const { sandbox, task, llm, signal, log } = context;
      if (!llm?.baseUrlInSandbox)
        throw new AgentSetupError(
          `The ${recipe.name} agent needs the node's LLM gateway (gateway: in node.yaml)`,
        );
      const installDir =
        install.kind === 'image'
          ? null
          : sandbox.kind === 'local'
            ? await installer.install(install.package)
            : installMount(recipe);
      const runContext: CliRunContext = {
        instruction: `${task.instruction}\n\n${PURCHASE_HELP}`,
        // The gateway answers it with the task's route; a route's own name could be one the agent rewrites.
        model: TASK_ROUTE_MODEL,
        baseUrl: llm.baseUrlInSandbox,
        key: llm.key,
        maxTurns: task.estimated_steps.max * 2,
      };
      if (task.step_rewards)
        log(
          `${recipe.name}: step_rewards apply to built-in agents; a CLI agent's steps earn 0 until the end`,
        );
      const before = await toBuffer(await sandbox.copyOut());
      const records: TrafficRecord[] = [];
      const untap = llm.tap((record) => {
        if (record.attempt === context.attempt) records.push(record);
      });
      let out: Awaited<ReturnType<typeof sandbox.exec>>;
      try {
        log(`${recipe.name}: running ${what}`);
        // No timeout of its own: the attempt's deadline aborts `signal`, and that deadline stops while
        // the agent's model calls wait for a budget grant (a fixed exec timeout would kill it mid-pause).
        out = await sandbox.exec(runScript(recipe, installDir, runContext), {
          outputLimitBytes: OUTPUT_KEPT_BYTES,
          signal,
        });
      } finally {
        untap();
      }
      const output = out.stdout.toString() + out.stderr.toString();
      log(output);
      // The steps are kept whatever happened: a failed run's trajectory is data too.
      const changes = await fileChanges(before, await toBuffer(await sandbox.copyOut()));
      for (const step of withFileChanges(stepsFromTraffic(records), changes))
        await context.trajectory.record(step);
      log(`${recipe.name}: exit ${out.exitCode ?? 'killed'} after ${records.length} model calls`);
      if (signal.aborted) return;
      if (install.kind === 'image' && out.exitCode === NOT_INSTALLED && records.length === 0)
        throw new AgentSetupError(output.trim().split('\n').at(-1) ?? `${install.command} is not installed`);
      if (out.exitCode !== 0) {
        const tail = output.trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
        throw new AgentFailure(
          `${recipe.name} exited with ${out.exitCode ?? 'a signal'}: ${tail}`,
          classifyFailure(records),
        );
      }
    },
  };
}
