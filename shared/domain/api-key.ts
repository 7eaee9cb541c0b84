// API keys: who may call the control plane. Only a peppered hash of each key is stored. Keys with the
// `gateway` role are virtual keys for the LLM gateway only (per user or per machine): no API route
// accepts them, and each binds the project its calls are charged to and the models it may use.
import { z } from 'zod';
import { ProjectId, Slug } from './task.js';

/** A key's id (not the key itself): `key_` and 26 hex digits of a MAC of the key. */
export const ApiKeyId = z
  .string()
  .regex(/^key_[0-9a-f]{26}$/, 'must look like key_ followed by 26 hex digits');

export const ApiKeyRole = z.enum(['admin', 'user', 'node', 'gateway']);
export type ApiKeyRole = z.infer<typeof ApiKeyRole>;

const ModelName = z.string().min(1).max(200);

/** What a virtual gateway key binds every call it makes to. */
export const GatewayKeyBinding = z.strictObject({
  kind: z.enum(['user', 'machine']),
  project_id: ProjectId,
  /** The machine a `machine` key belongs to: its daily allowance is charged. */
  worker_id: z.string().min(1).max(100).nullable().default(null),
  scaffold: Slug.nullable().default(null),
  /** Models the key may call; empty: any model the gateway prices. */
  allowed_models: z.array(ModelName).max(100).default([]),
  /** Tell the model what budget is left, in its system prompt (seed 000 budget awareness). */
  budget_awareness: z.boolean().default(false),
});
export type GatewayKeyBinding = z.infer<typeof GatewayKeyBinding>;

export const ApiKeySpec = z.strictObject({
  name: z.string().trim().min(1).max(200),
  role: ApiKeyRole,
  /** Required for, and only for, the `gateway` role. */
  binding: GatewayKeyBinding.optional(),
});
export type ApiKeySpec = z.infer<typeof ApiKeySpec>;

/** What the API shows of a key: never the key itself, only its first characters. */
export const ApiKeyInfo = z.strictObject({
  id: z.string(),
  name: z.string(),
  role: ApiKeyRole,
  prefix: z.string(),
  created_at: z.iso.datetime(),
  created_by: z.string(),
  revoked_at: z.iso.datetime().nullable(),
  binding: GatewayKeyBinding.nullable(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

/**
 * How every task key begins (`avt_<task>-<attempt>-<signature>`): gateways tell task keys, whose
 * validity ends with their attempt, from virtual keys without asking.
 */
export const TASK_KEY_PREFIX = 'avt_';

export function isTaskKey(key: string): boolean {
  return key.startsWith(TASK_KEY_PREFIX);
}

/** The caller a request was authenticated as. */
export interface Principal {
  keyId: string;
  role: ApiKeyRole;
  name: string;
}

/**
 * Who a gateway call is attributed to, as the control plane resolves its key: a task's key (issued
 * with the claim, dead once the attempt ends), or a virtual key of a user or a machine.
 */
export const GatewayIdentity = z.strictObject({
  kind: z.enum(['task', 'user', 'machine']),
  /** The key's id, or the task id for a task key: what traffic and spend are attributed to. */
  key_id: z.string(),
  name: z.string(),
  project_id: z.string(),
  task_id: z.string().nullable(),
  attempt: z.int().nullable(),
  worker_id: z.string().nullable(),
  scaffold: z.string().nullable(),
  category: z.string().nullable(),
  allowed_models: z.array(z.string()),
  /**
   * The model a task's agent gets when it asks for the task's route (the gateway's TASK_ROUTE_MODEL):
   * the task's first preferred model; null for other keys and for tasks that prefer none.
   */
  route: z.string().nullable().default(null),
  budget_awareness: z.boolean(),
  /**
   * How long the key's calls wait for a grant when the project's budget is exhausted and it pauses
   * (`on_budget_exhausted: pause`): the project's max_pause_seconds for a task key, 0 (refused at
   * once) for other keys and for projects that fail.
   */
  max_pause_seconds: z.int().min(0).default(0),
});
export type GatewayIdentity = z.infer<typeof GatewayIdentity>;
