// The fuzz run: `count` requests, each to a write route of the API's route table chosen at random,
// each a mutation of that route's valid request (its body, sometimes a path id, the key, the content
// type), sent over HTTP to `autovibe dev`'s server. Every answer must be below 500; every refusal
// (4xx) must be the error envelope and leave DynamoDB, S3 and SQS exactly as they were. The first
// failure stops the run with the seed, the index and the request, to run it again.
import { z } from 'zod';
import { apiRoutes } from '../../functions/api/app.js';
import type { RouteDef } from '../../functions/api/route.js';
import type { ResourceNames } from '../../shared/resources.js';
import { journalWrites } from './journal.js';
import { type Body, type JsonSchema, mutate, sample } from './mutations.js';
import { Random } from './random.js';
import { changed, snapshot } from './snapshot.js';
import type { Example, Role, World } from './world.js';

export interface FuzzResult {
  /** Answers by status, over the whole run. */
  statuses: Record<number, number>;
  /** Requests sent to each route. */
  routes: Record<string, number>;
  /** Requests bracketed by full snapshots. */
  snapshots: number;
  /** Writes the journal saw, all accepted requests': none would mean it saw nothing at all. */
  writes: number;
}

const MALFORMED_IDS = ['x'.repeat(2100), 'tsk_', '..', 'ü', '%00', 'wrk_0000000000000000000000000Z', ' '];

export function writeRoutes(world: World): RouteDef[] {
  return apiRoutes(world.dev.plane).filter((route) => route.method !== 'get');
}

export const routeName = (route: RouteDef) => `${route.method.toUpperCase()} ${route.path}`;

/** Converted once per route: the task spec's takes some 30 ms, longer than most requests. */
const bodySchemas = new WeakMap<RouteDef, JsonSchema>();

export function bodySchema(route: RouteDef): JsonSchema | undefined {
  if (!route.body) return undefined;
  let schema = bodySchemas.get(route);
  if (!schema) {
    schema = z.toJSONSchema(route.body, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    bodySchemas.set(route, schema);
  }
  return schema;
}

interface Request {
  route: RouteDef;
  role: Role | 'none';
  path: string;
  headers: Record<string, string>;
  text: string | undefined;
  what: string[];
}

/** Request `index` of the run seeded `seed`: the same whatever happened before it. */
function request(world: World, routes: RouteDef[], seed: number, index: number): Request {
  const rnd = Random.forRequest(seed, index);
  const route = rnd.pick(routes);
  const schema = bodySchema(route);
  const example: Example = world.examples[routeName(route)] ?? {
    role: route.roles === 'public' ? 'admin' : ((route.roles[0] as Role) ?? 'admin'),
    params: Object.fromEntries(Object.keys(route.params?.shape ?? {}).map((name) => [name, 'x'])),
    body: schema ? sample(schema, rnd) : undefined,
  };
  const what: string[] = [];

  const params = { ...example.params };
  const names = Object.keys(params);
  if (names.length > 0 && rnd.chance(0.15)) {
    const name = rnd.pick(names);
    params[name] = rnd.pick(MALFORMED_IDS);
    what.push(`path ${name} = ${JSON.stringify(params[name]!.slice(0, 20))}`);
  }
  const path = route.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));

  let body: Body | undefined;
  if (schema && rnd.chance(0.9)) {
    const mutated = mutate(example.body, schema, rnd);
    body = mutated.body;
    what.push(...mutated.what);
  } else if (!schema && rnd.chance(0.5)) {
    const mutated = mutate({}, undefined, rnd);
    body = mutated.body;
    what.push(...mutated.what);
  }
  const text = body ? body.text() : example.body === undefined ? undefined : JSON.stringify(example.body);

  let role: Role | 'none' = example.role;
  if (rnd.chance(0.05)) {
    role = rnd.pick<Role | 'none'>(['admin', 'user', 'node', 'none']);
    what.push(`key of ${role}`);
  }
  const headers: Record<string, string> = {};
  if (role !== 'none') headers.authorization = `Bearer ${world.keys[role]}`;
  if (rnd.chance(0.92)) headers['content-type'] = 'application/json';
  else what.push('no JSON content type');
  if (routeName(route) === 'POST /api/v1/tasks' && rnd.chance(0.2)) {
    headers['idempotency-key'] = rnd.pick(['retry-1', 'x'.repeat(300), 'with spaces', '']);
    what.push(`Idempotency-Key ${headers['idempotency-key']!.slice(0, 20)}`);
  }
  if (what.length === 0) what.push('valid as it is');
  return { route, role, path, headers, text, what };
}

function describe(seed: number, index: number, req: Request, status: number, answer: string): string {
  const text = req.text ?? '(none)';
  return [
    `request ${index} of seed ${seed}: ${req.route.method.toUpperCase()} ${req.path.slice(0, 200)} as ${req.role}`,
    `  mutations: ${req.what.join('; ')}`,
    `  body (${text.length} chars): ${text.slice(0, 2000)}`,
    `  answered ${status}: ${answer.slice(0, 1000)}`,
    `  again: npm run fuzz -- --seed ${seed} --count ${index + 1}`,
  ].join('\n');
}

export interface FuzzOptions {
  seed: number;
  count: number;
  /** Bracket every n-th request with full snapshots (1: every request); the journal sees them all. */
  snapshotEvery: number;
  /** Called after each request, with the run so far. */
  progress?: (done: number, result: FuzzResult) => void;
}

export async function runFuzz(world: World, options: FuzzOptions): Promise<FuzzResult> {
  const { seed, count, snapshotEvery } = options;
  const routes = writeRoutes(world);
  const { aws } = world.dev.internals;
  const resources = world.dev.stack.config.resources;
  const journal = journalWrites(aws);
  const result: FuzzResult = { statuses: {}, routes: {}, snapshots: 0, writes: 0 };
  for (let index = 0; index < count; index++) {
    const req = request(world, routes, seed, index);
    const before = index % snapshotEvery === 0 ? await snapshot(aws, resources) : undefined;
    journal.take();
    // A connection closed without an answer is a failure like a 5xx: the client learns nothing.
    const unanswered = (error: Error) =>
      new Error(`No answer (${error.cause ?? error.message})\n${describe(seed, index, req, 0, '')}`);
    const response = await fetch(`${world.dev.url}${req.path}`, {
      method: req.route.method.toUpperCase(),
      headers: req.headers,
      body: req.text,
    }).catch((error: Error) => {
      throw unanswered(error);
    });
    const answer = await response.text().catch((error: Error) => {
      throw unanswered(error);
    });
    const writes = journal.take();
    const status = response.status;
    result.writes += writes.length;
    const fail = (what: string) => new Error(`${what}\n${describe(seed, index, req, status, answer)}`);
    result.statuses[status] = (result.statuses[status] ?? 0) + 1;
    result.routes[routeName(req.route)] = (result.routes[routeName(req.route)] ?? 0) + 1;
    if (status >= 500) throw fail('A 5xx answer');
    if (status >= 400) {
      if (!ErrorEnvelope.safeParse(safeJson(answer)).success)
        throw fail('A refusal without the error envelope');
      const allowed = refusalMayWrite(status, resources);
      // `Command table` or `Command bucket key`: the resource is the second word.
      const wrote = writes.filter((write) => !allowed.includes(write.split(' ')[1] ?? ''));
      if (wrote.length > 0) throw fail(`A refusal that wrote: ${wrote.join(', ')}`);
    }
    if (before) {
      result.snapshots++;
      // What changed must be what the journal saw written: what a refusal may write, and for an
      // acceptance only tables, buckets and queues it names (a write around the clients would show).
      const unseen = changed(before, await snapshot(aws, resources)).filter(
        (name) =>
          !bookkeeping(resources).includes(name.replace(/^\w+ /, '')) &&
          !writes.some((write) => write.split(' ').includes(name.replace(/^\w+ /, ''))),
      );
      if (unseen.length > 0) throw fail(`A write the journal did not see, to ${unseen.join(', ')}`);
    }
    options.progress?.(index + 1, result);
  }
  return result;
}

/**
 * The tables a refusal may write, by status: only bookkeeping, but for a 402. That is a refusal by the state of
 * the budget, not of the input: a lease takes the machine's daily allowance first and hands it back
 * when the project's budget then refuses (two conditional writes to the budgets table), and records
 * the threshold it found reached (the budgets table and an event).
 */
function refusalMayWrite(status: number, resources: ResourceNames): string[] {
  return [
    ...bookkeeping(resources),
    ...(status === 402 ? [resources.tables.budgets, resources.tables.events] : []),
  ];
}

/**
 * What every request writes whatever its answer, because it records the request and not its input:
 * the audit log (flushed by the server every second, so its write may land during any request) and
 * the caller's rate-limit bucket.
 */
function bookkeeping(resources: ResourceNames): string[] {
  return [resources.buckets.audit, resources.tables.rateLimits];
}

const ErrorEnvelope = z.strictObject({
  error: z.strictObject({
    code: z.string().min(1),
    message: z.string().min(1),
    details: z.array(z.strictObject({ path: z.string(), problem: z.string() })),
  }),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
