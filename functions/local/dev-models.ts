// Where the model turns of `autovibe dev`'s embedded node come from: a gateway config file if given,
// else OpenAI when OPENAI_API_KEY is set, else the example's recorded trajectory replayed, so the
// main job runs offline, with no key, exactly the same way every time.
import { fileURLToPath } from 'node:url';
import { readYamlFile } from '../../gpu-node-agent/config.js';

/** The recording the offline demo replays: the minimal agent solving examples/hello-world.yaml. */
export const EXAMPLE_RECORDING = fileURLToPath(
  new URL('../../examples/hello-world.atif.json', import.meta.url),
);
/** Replayed turns are priced like the model that was recorded. */
const RECORDED_MODEL = 'gpt-4o-mini';

export interface DevModels {
  /** The `gateway:` section of the embedded node's config. */
  gateway: Record<string, unknown>;
  /** One line for the banner: what answers the model calls. */
  describe: string;
}

export async function devModels(env: NodeJS.ProcessEnv, gatewayFile?: string): Promise<DevModels> {
  if (gatewayFile) {
    const raw = (await readYamlFile(gatewayFile, 'gateway config')) as Record<string, unknown> | null;
    return { gateway: { ...raw, port: 0 }, describe: `as ${gatewayFile} says` };
  }
  if (env.OPENAI_API_KEY) {
    const model = env.AUTOVIBE_DEV_MODEL ?? RECORDED_MODEL;
    return {
      gateway: {
        port: 0,
        providers: [{ name: 'openai', base_url: 'https://api.openai.com/v1', api_key_env: 'OPENAI_API_KEY' }],
        models: [{ name: 'default', targets: [{ provider: 'openai', model }] }],
      },
      describe: `OpenAI ${model} (OPENAI_API_KEY; AUTOVIBE_DEV_MODEL picks another)`,
    };
  }
  return {
    gateway: {
      port: 0,
      providers: [{ name: 'replay', kind: 'replay', replay_file: EXAMPLE_RECORDING }],
      models: [
        { name: 'default', targets: [{ provider: 'replay', model: 'recorded', price_as: RECORDED_MODEL }] },
      ],
    },
    describe: `replay of examples/hello-world.atif.json, priced as ${RECORDED_MODEL} (set OPENAI_API_KEY or --gateway for a real model)`,
  };
}
