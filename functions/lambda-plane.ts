// A Lambda function's control plane, built once per container from the environment the CDK stack
// sets (its resources and the scheduler's settings, parsed once from that env). The API-key pepper
// comes from Secrets Manager (its ARN in AUTOVIBE_KEY_PEPPER_SECRET_ARN), so it is never in the
// function's configuration; AUTOVIBE_KEY_PEPPER given directly wins (tests).
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { controlPlaneConfigFromEnv } from '../shared/config.js';
import { type ControlPlane, createControlPlane } from '../shared/control-plane.js';

export const PEPPER_SECRET_ENV_VAR = 'AUTOVIBE_KEY_PEPPER_SECRET_ARN';

async function withPepper(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const arn = env[PEPPER_SECRET_ENV_VAR];
  if (env.AUTOVIBE_KEY_PEPPER || !arn) return env;
  const secrets = new SecretsManagerClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
  });
  try {
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    return { ...env, AUTOVIBE_KEY_PEPPER: out.SecretString };
  } finally {
    secrets.destroy();
  }
}

/**
 * The exported `handler` of a function module: builds the control plane on the first invocation
 * (again after a failed start), then hands every event to what `create` made of it.
 */
export function lazyHandler<A extends unknown[], R>(
  create: (plane: ControlPlane) => (...args: A) => Promise<R>,
  env: NodeJS.ProcessEnv = process.env,
): (...args: A) => Promise<R> {
  let handler: Promise<(...args: A) => Promise<R>> | undefined;
  return async (...args) => {
    handler ??= withPepper(env).then((resolved) =>
      create(createControlPlane(controlPlaneConfigFromEnv(resolved))),
    );
    handler.catch(() => {
      handler = undefined;
    });
    return (await handler)(...args);
  };
}
