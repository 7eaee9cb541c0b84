// The task's route under a name no agent rewrites. CLI agents treat some model names as their own
// aliases (Claude Code turns `default`, `sonnet`, `opus`, `haiku`, `opusplan` into its newest models;
// Gemini CLI does so with `auto`, `pro`, `flash`), so an agent is never told the route itself: it asks
// for TASK_ROUTE_MODEL, and the gateway answers it with the route its key resolves to.
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';

/** What a scaffold sends as `model` to mean "the route of the task whose key I hold". */
export const TASK_ROUTE_MODEL = 'autovibe-task-route';

/** The route a task's agent reaches when it asks for none: the gateway's model named `default`. */
export const DEFAULT_ROUTE = 'default';

/** The model a call asks for, with TASK_ROUTE_MODEL replaced by the key's route. */
export function requestedRoute(identity: Pick<GatewayIdentity, 'route'>, model: string): string {
  return model === TASK_ROUTE_MODEL ? (identity.route ?? DEFAULT_ROUTE) : model;
}
