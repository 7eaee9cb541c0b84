// API keys: issuing, checking and revoking them. A key is looked up by an id derived from it with the
// pepper, then its peppered hash is compared in constant time. The key itself is shown once, at
// creation, and never stored or logged.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type ApiKeyInfo,
  type ApiKeyRole,
  ApiKeySpec,
  type GatewayKeyBinding,
  type Principal,
  TASK_KEY_PREFIX,
} from '../domain/api-key.js';
import { IdPrefix } from '../domain/ids.js';
import {
  ConfigError,
  ConflictError,
  NotFoundError,
  UnauthorizedError,
  UnprocessableError,
  ValidationError,
} from '../errors.js';
import type { ApiKeyRecord, ApiKeyRepository } from '../store/api-key-repository.js';
import type { Page } from '../store/dynamo.js';
import type { NodeRepository } from '../store/node-repository.js';
import type { ProjectRepository } from '../store/project-repository.js';
import { parseOrThrow } from '../validation.js';

/**
 * How long a verified key is trusted without reading it again. Revoking through this process takes
 * effect at once; another process (another Lambda instance) notices within this time.
 */
export const KEY_CACHE_SECONDS = 30;

/** A key supplied from outside (AUTOVIBE_ADMIN_KEY) must be at least this long. */
export const MIN_KEY_LENGTH = 24;
const PREFIX_SHOWN = 8;
const TASK_KEY_SIGNATURE_LENGTH = 32;
const TASK_KEY = /^avt_(tsk_[0-9a-hjkmnp-tv-z]{26})-(\d{1,3})-([A-Za-z0-9_-]{32})$/;

interface Deps {
  keys: ApiKeyRepository;
  /** What a gateway key's binding names must exist: its project, and a machine key's node. */
  projects: ProjectRepository;
  nodes: NodeRepository;
  /** Null where the function was not given the secret: any use of keys then fails clearly. */
  pepper: string | null;
  now: () => Date;
}

export interface VerifyOptions {
  /** Read the key's record even if it was verified lately. */
  fresh?: boolean;
  /**
   * Runs before a key not verified lately is looked up, and may refuse the request by throwing: a
   * key verified lately is a real one, never a guess (the per-source limit, app.ts).
   */
  beforeLookup?: () => Promise<void>;
}

export class ApiKeyService {
  private readonly verified = new Map<
    string,
    { principal: Principal; binding: GatewayKeyBinding | null; until: number }
  >();

  constructor(private readonly deps: Deps) {}

  /** Issues a new random key. The returned `key` is the only copy. */
  async create(input: unknown, createdBy: string): Promise<{ key: string; info: ApiKeyInfo }> {
    const spec = parseOrThrow(ApiKeySpec, input, { what: 'API key' });
    if ((spec.role === 'gateway') !== (spec.binding !== undefined)) {
      throw new ValidationError('A gateway key needs a binding, and only a gateway key may have one', {
        details: [
          {
            path: 'binding',
            problem: spec.binding ? 'only allowed with role "gateway"' : 'required with role "gateway"',
          },
        ],
      });
    }
    if (spec.binding?.kind === 'machine' && !spec.binding.worker_id) {
      throw new ValidationError('A machine key names its machine', {
        details: [{ path: 'binding.worker_id', problem: 'required when kind is "machine"' }],
      });
    }
    if (spec.binding) await this.checkBinding(spec.binding);
    const key = `avk_${randomBytes(32).toString('base64url')}`;
    return { key, info: await this.store(key, spec.name, spec.role, createdBy, spec.binding ?? null) };
  }

  /** Registers a key chosen by the operator (the bootstrap admin key). Safe to call twice. */
  async register(key: string, name: string, role: ApiKeyRole, createdBy: string): Promise<ApiKeyInfo> {
    // Sent in an Authorization header (and the dashboard's cookie): other characters cannot travel.
    if (key.length < MIN_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ValidationError(
        `An API key must be at least ${MIN_KEY_LENGTH} characters of printable ASCII, without spaces`,
        {
          details: [
            {
              path: 'key',
              problem: `shorter than ${MIN_KEY_LENGTH} characters, or not all printable ASCII without spaces`,
            },
          ],
        },
      );
    }
    const existing = await this.deps.keys.get(this.idOf(key));
    if (existing?.revoked_at) {
      throw new ConflictError('This key was revoked and cannot be registered again; choose another', {
        details: [{ path: 'key', problem: `revoked at ${existing.revoked_at}` }],
      });
    }
    return existing ? infoOf(existing) : this.store(key, name, role, createdBy);
  }

  /** The options are `verify`'s. */
  async authenticate(authorization: string | undefined, options: VerifyOptions = {}): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw new UnauthorizedError('Send an API key as "Authorization: Bearer <key>"');
    return (await this.verify(match[1]!, options)).principal;
  }

  /**
   * The key's record if it is known and not revoked; cached for KEY_CACHE_SECONDS, unless `fresh`
   * asks for the stored record (a gateway key being resolved: the gateway caches it already; a
   * dashboard session, which a revocation through any instance must end at once).
   */
  async verify(
    key: string,
    options: VerifyOptions = {},
  ): Promise<{ principal: Principal; binding: GatewayKeyBinding | null }> {
    const id = this.idOf(key);
    const cached = this.verified.get(id);
    const known = cached !== undefined && cached.until > Date.now();
    if (known && !options.fresh) return cached;
    if (!known) await options.beforeLookup?.();
    const record = await this.deps.keys.get(id);
    const expected = Buffer.from(record?.hash ?? '0'.repeat(64), 'hex');
    const actual = Buffer.from(this.hashOf(key), 'hex');
    if (!record || !timingSafeEqual(expected, actual)) throw new UnauthorizedError('Unknown API key');
    if (record.revoked_at) throw new UnauthorizedError('This API key has been revoked');
    const verified = {
      principal: { keyId: record.id, role: record.role, name: record.name },
      binding: record.binding ?? null,
      until: Date.now() + KEY_CACHE_SECONDS * 1000,
    };
    this.verified.set(id, verified);
    return verified;
  }

  /**
   * The gateway key of one attempt of a task: derived, not stored, so issuing it with the claim costs
   * no write. It is only honoured while that attempt holds the task (see GatewayKeyService).
   */
  taskKey(taskId: string, attempt: number): string {
    return `${TASK_KEY_PREFIX}${taskId}-${attempt}-${this.taskKeySignature(taskId, attempt)}`;
  }

  /** The task and attempt a task key was issued for, or null if it is not a genuine one. */
  parseTaskKey(key: string): { taskId: string; attempt: number } | null {
    const match = TASK_KEY.exec(key);
    if (!match) return null;
    const [, taskId, attemptText, signature] = match as unknown as [string, string, string, string];
    const attempt = Number(attemptText);
    const expected = Buffer.from(this.taskKeySignature(taskId, attempt));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given) ? { taskId, attempt } : null;
  }

  async list(limit: number, cursor?: string): Promise<Page<ApiKeyInfo>> {
    const page = await this.deps.keys.list(limit, cursor);
    return { items: page.items.map(infoOf), next_cursor: page.next_cursor };
  }

  /** Revokes a key. The last active admin key stays: without it nobody could issue keys again. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    if (!/^key_[0-9a-f]{26}$/.test(id)) {
      throw new ValidationError(`Invalid API key id: ${id.slice(0, 40)}`, {
        details: [{ path: 'id', problem: 'must look like key_ followed by 26 hex digits' }],
      });
    }
    const target = await this.deps.keys.get(id);
    if (target?.role === 'admin' && !target.revoked_at && (await this.deps.keys.countActive('admin')) <= 1) {
      throw new ConflictError(
        'This is the last active admin key; issue another admin key before revoking it',
        {
          details: [{ path: 'id', problem: 'last active admin key' }],
        },
      );
    }
    this.verified.delete(id);
    const record = await this.deps.keys.revoke(id, this.deps.now());
    if (!record) throw new NotFoundError(`No API key with id ${id}`);
    return infoOf(record);
  }

  async hasActiveAdmin(): Promise<boolean> {
    return (await this.deps.keys.countActive('admin')) > 0;
  }

  /**
   * A binding names a project (and a machine) that exist: a key bound to nothing would pass at the
   * gateway and fail at its first lease, which clients read as a server error and retry.
   */
  private async checkBinding(binding: GatewayKeyBinding): Promise<void> {
    if (!(await this.deps.projects.get(binding.project_id))) {
      throw new UnprocessableError(`No project with id ${binding.project_id}; create it first`, {
        details: [{ path: 'binding.project_id', problem: 'no project with this id' }],
      });
    }
    if (binding.worker_id !== null && !(await this.deps.nodes.get(binding.worker_id))) {
      throw new UnprocessableError(`No node with id ${binding.worker_id}; register it first`, {
        details: [{ path: 'binding.worker_id', problem: 'no node with this id' }],
      });
    }
  }

  private taskKeySignature(taskId: string, attempt: number): string {
    return createHmac('sha256', this.pepper)
      .update(`task-gateway-key:${taskId}:${attempt}`)
      .digest('base64url')
      .slice(0, TASK_KEY_SIGNATURE_LENGTH);
  }

  private async store(
    key: string,
    name: string,
    role: ApiKeyRole,
    createdBy: string,
    binding: GatewayKeyBinding | null = null,
  ): Promise<ApiKeyInfo> {
    const record: ApiKeyRecord = {
      id: this.idOf(key),
      name,
      role,
      prefix: key.slice(0, PREFIX_SHOWN),
      created_at: this.deps.now().toISOString(),
      created_by: createdBy,
      revoked_at: null,
      binding,
      hash: this.hashOf(key),
    };
    await this.deps.keys.create(record);
    return infoOf(record);
  }

  private idOf(key: string): string {
    return `${IdPrefix.apiKey}_${this.mac('id', key).slice(0, 26)}`;
  }

  private hashOf(key: string): string {
    return this.mac('hash', key);
  }

  private mac(purpose: string, key: string): string {
    return createHmac('sha256', this.pepper).update(`${purpose}:${key}`).digest('hex');
  }

  private get pepper(): string {
    if (this.deps.pepper === null)
      throw new ConfigError(
        'This function has no API-key pepper (AUTOVIBE_KEY_PEPPER): it cannot check keys',
      );
    return this.deps.pepper;
  }
}

function infoOf({ hash: _, ...info }: ApiKeyRecord): ApiKeyInfo {
  return { ...info, binding: info.binding ?? null };
}
