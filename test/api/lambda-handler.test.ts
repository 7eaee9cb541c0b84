// The Lambda handler (hono/aws-lambda around the same app) must answer an API Gateway v2 event exactly
// as the local HTTP server answers the same request.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../functions/local/dev-server.js';
import { FUNCTIONS } from '../../functions/manifest.js';
import { AuditRecord } from '../../shared/domain/audit.js';
import { resourceNamesToEnv } from '../../shared/resources.js';
import { S3BlobStore } from '../../shared/store/blob-store.js';

let dev: DevServer;
let dataDir: string;
let adminKey: string;
/** A user key the Lambda limits to bursts of 3 (AUTOVIBE_RATE_LIMIT_USER, set as CDK would set it). */
let limitedKey: string;
let handler: (event: unknown, context: unknown) => Promise<LambdaResult>;

interface LambdaResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'autovibe-lambda-'));
  // The server's clock stands still an hour ahead: a queued task's priority has an age part, which
  // must not tick between the two requests of a comparison. The Lambda's clock is real, so for it the
  // task is not even created yet, which counts as age 0 too.
  const ahead = new Date(Date.now() + 3600_000);
  dev = await startDevServer({ dataDir, host: '127.0.0.1', port: 0, plane: { now: () => ahead } });
  adminKey = (dev.admin as { key: string }).key;
  // What the CDK stack sets on the function, pointed at the local emulators.
  const { config } = dev.stack;
  Object.assign(process.env, resourceNamesToEnv(config.resources), {
    AWS_REGION: config.aws.region,
    AWS_ENDPOINT_URL_DYNAMODB: config.aws.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: config.aws.endpoints.s3,
    AWS_ENDPOINT_URL_SQS: config.aws.endpoints.sqs,
    AWS_ACCESS_KEY_ID: config.aws.credentials!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: config.aws.credentials!.secretAccessKey,
    AUTOVIBE_KEY_PEPPER: config.keyPepper,
    AUTOVIBE_RATE_LIMIT_USER: '2:3',
  });
  limitedKey = (await dev.plane.keys.create({ name: 'limited', role: 'user' }, 'test')).key;
  handler = (await import(/* @vite-ignore */ resolve(FUNCTIONS.api.entry))).handler;
});
afterAll(async () => {
  await dev.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function apiGatewayEvent(
  method: string,
  path: string,
  query: string,
  headers: Record<string, string>,
  body?: string,
) {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    cookies: [] as string[],
    headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'user-agent': 'vitest', ...headers },
    queryStringParameters: query ? Object.fromEntries(new URLSearchParams(query)) : undefined,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: `req-${now.getTime()}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: false,
  };
}

const lambdaContext = {
  functionName: 'autovibe-api',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 29_000,
};

async function both(method: string, path: string, query = '', body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${adminKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const text = body === undefined ? undefined : JSON.stringify(body);
  const http = await fetch(`${dev.url}${path}${query ? `?${query}` : ''}`, { method, headers, body: text });
  const lambda = await handler(apiGatewayEvent(method, path, query, headers, text), lambdaContext);
  return {
    http: { status: http.status, type: http.headers.get('content-type'), body: await http.text() },
    lambda: { status: lambda.statusCode, type: lambda.headers['content-type'], body: lambda.body },
  };
}

describe('API Lambda handler', () => {
  it('answers GET of a task like the HTTP server', async () => {
    const { task } = await dev.plane.tasks.submit(
      { project_id: 'default', instruction: 'parity', docker_image: 'img' },
      { keyId: 'test', role: 'admin', name: 'test' },
    );
    const { http, lambda } = await both('GET', `/api/v1/tasks/${task.id}`);
    expect(http.status).toBe(200);
    expect(lambda).toEqual(http);
    expect(JSON.parse(lambda.body).id).toBe(task.id);
  });

  it('answers a filtered list and a validation error like the HTTP server', async () => {
    const list = await both('GET', '/api/v1/tasks', 'project_id=default&limit=5');
    expect(list.lambda).toEqual(list.http);
    const invalid = await both('POST', '/api/v1/tasks', '', { project_id: 'default', bogus: true });
    expect(invalid.http.status).toBe(400);
    expect(invalid.lambda).toEqual(invalid.http);
  });

  it('creates through the Lambda what the HTTP server then reads', async () => {
    const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ id: 'via-lambda', name: 'Via Lambda' });
    const created = await handler(
      apiGatewayEvent('POST', '/api/v1/projects', '', headers, body),
      lambdaContext,
    );
    expect(created.statusCode).toBe(201);
    const read = await fetch(`${dev.url}/api/v1/projects/via-lambda`, { headers });
    expect(await read.json()).toEqual(JSON.parse(created.body));
  });

  it('answers an unknown route with the same JSON 404', async () => {
    const { http, lambda } = await both('GET', '/api/v1/missing');
    expect(http.status).toBe(404);
    expect(lambda).toEqual(http);
  });

  it('enforces the same per-key limit: 429 with Retry-After, then through again after it', async () => {
    const headers = { authorization: `Bearer ${limitedKey}` };
    const get = () => handler(apiGatewayEvent('GET', '/api/v1/projects/default', '', headers), lambdaContext);
    for (let i = 0; i < 3; i++) expect((await get()).statusCode).toBe(200);
    const refused = await get();
    expect(refused.statusCode).toBe(429);
    const wait = Number(refused.headers['retry-after']);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(refused.body).error.code).toBe('rate_limited');
    // Honouring Retry-After is enough to get through (the bucket is in DynamoDB, real time).
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    expect((await get()).statusCode).toBe(200);
  });

  it("writes each request to the audit log before the invocation returns, with API Gateway's source address", async () => {
    const headers = { authorization: `Bearer ${adminKey}` };
    const event = apiGatewayEvent('GET', '/api/v1/tasks', 'limit=1', headers);
    event.requestContext.requestId = 'audit-through-lambda';
    expect((await handler(event, lambdaContext)).statusCode).toBe(200);
    // No flush asked for: the handler wrote the record before it returned.
    const blobs = new S3BlobStore(dev.internals.aws.s3, dev.stack.config.resources.buckets.audit);
    const records: AuditRecord[] = [];
    for (const key of await blobs.list('audit/'))
      for (const line of (await blobs.get(key))!.toString('utf8').trimEnd().split('\n'))
        records.push(AuditRecord.parse(JSON.parse(line)));
    const mine = records.find((r) => r.request_id === 'audit-through-lambda');
    const adminId = (await dev.plane.keys.authenticate(`Bearer ${adminKey}`)).keyId;
    expect(mine).toMatchObject({
      key_id: adminId,
      role: 'admin',
      method: 'GET',
      route: '/api/v1/tasks',
      status: 200,
      source: '203.0.113.7',
    });
    expect(records.filter((r) => r.status === 429 && r.role === 'user').length).toBeGreaterThanOrEqual(1);
  });
});

describe('the dashboard through the Lambda handler', () => {
  async function page(path: string, query = '', cookie?: string) {
    const headers: Record<string, string> = cookie ? { cookie } : {};
    const http = await fetch(`${dev.url}${path}${query ? `?${query}` : ''}`, { headers, redirect: 'manual' });
    const event = apiGatewayEvent('GET', path, query, {});
    if (cookie) event.cookies = [cookie];
    const lambda = await handler(event, lambdaContext);
    return {
      http: { status: http.status, type: http.headers.get('content-type'), body: await http.text() },
      lambda: { status: lambda.statusCode, type: lambda.headers['content-type'], body: lambda.body },
    };
  }

  it('signs in with the key in a cookie, as the HTTP server does', async () => {
    const form = `key=${encodeURIComponent(adminKey)}`;
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const lambda = (await handler(
      apiGatewayEvent('POST', '/dashboard/login', '', headers, form),
      lambdaContext,
    )) as LambdaResult & { cookies?: string[] };
    expect(lambda.statusCode).toBe(303);
    // Behind API Gateway the request is HTTPS, so the cookie is Secure too.
    expect(lambda.cookies?.[0]).toMatch(
      /^autovibe_dashboard=.+; Max-Age=43200; Path=\/dashboard; HttpOnly; Secure; SameSite=Strict$/,
    );
  });

  it('serves the pages, their live parts and the bundled client as the HTTP server does', async () => {
    const { task } = await dev.plane.tasks.submit(
      { project_id: 'default', instruction: 'dashboard parity <b>bold</b>', docker_image: 'img' },
      { keyId: 'test', role: 'admin', name: 'test' },
    );
    const cookie = `autovibe_dashboard=${adminKey}`;
    for (const [path, query] of [
      ['/dashboard/login', ''],
      ['/dashboard/tasks', 'project_id=default'],
      ['/dashboard/tasks/live', 'project_id=default'],
      [`/dashboard/tasks/${task.id}`, ''],
      ['/dashboard/compare', ''],
      ['/dashboard/requests', ''],
    ] as const) {
      const { http, lambda } = await page(path, query, cookie);
      expect(http.status, path).toBe(200);
      expect(lambda, path).toEqual(http);
    }
    const { http, lambda } = await page(`/dashboard/tasks/${task.id}`, '', cookie);
    expect(lambda.body).toContain('dashboard parity &lt;b&gt;bold&lt;/b&gt;');
    const [, src] = /src="(\/dashboard\/assets\/app\.js)\?v=([0-9a-f]+)"/.exec(http.body) ?? [];
    const js = await page(src!);
    expect(js.lambda.status).toBe(200);
    expect(js.lambda).toEqual(js.http);
    // Without a session both send the visitor to sign in.
    const anonymous = await page('/dashboard/spend');
    expect(anonymous.http.status).toBe(303);
    expect(anonymous.lambda.status).toBe(303);
  });
});
