// API key endpoints (admin only) and `whoami` for any key.
import { z } from 'zod';
import type { ControlPlane } from '../../../shared/control-plane.js';
import { ApiKeyId, ApiKeyInfo, ApiKeyRole, ApiKeySpec } from '../../../shared/domain/api-key.js';
import { ADMIN, ANY_ROLE, PageQuery, pageOf, type RouteDef, readJson, readQuery } from '../route.js';

export function keyRoutes(plane: ControlPlane): RouteDef[] {
  return [
    {
      method: 'post',
      operationId: 'createKey',
      path: '/api/v1/keys',
      summary: 'Issue an API key for a user or a node. The key is in this response only.',
      tag: 'keys',
      roles: ADMIN,
      body: ApiKeySpec,
      responses: { 201: { description: 'The new key', schema: ApiKeyInfo.extend({ key: z.string() }) } },
      async handle(c) {
        const { key, info } = await plane.keys.create(await readJson(c), c.get('principal').keyId);
        return c.json({ ...info, key }, 201);
      },
    },
    {
      method: 'get',
      operationId: 'listKeys',
      path: '/api/v1/keys',
      summary: 'List API keys (never the keys themselves).',
      tag: 'keys',
      roles: ADMIN,
      query: PageQuery,
      responses: { 200: { description: 'A page of keys', schema: pageOf(ApiKeyInfo) } },
      async handle(c) {
        const { limit, cursor } = readQuery(c, PageQuery);
        return c.json(await plane.keys.list(limit, cursor));
      },
    },
    {
      method: 'delete',
      operationId: 'revokeKey',
      path: '/api/v1/keys/:id',
      params: z.strictObject({ id: ApiKeyId }),
      summary: 'Revoke an API key. Revoking twice is harmless.',
      tag: 'keys',
      roles: ADMIN,
      responses: { 200: { description: 'The revoked key', schema: ApiKeyInfo } },
      async handle(c) {
        return c.json(await plane.keys.revoke(c.req.param('id')!));
      },
    },
    {
      method: 'get',
      operationId: 'whoami',
      path: '/api/v1/whoami',
      summary: 'Who the calling key belongs to.',
      tag: 'keys',
      roles: ANY_ROLE,
      responses: {
        200: {
          description: 'The caller',
          schema: z.object({ key_id: z.string(), name: z.string(), role: ApiKeyRole }),
        },
      },
      handle(c) {
        const { keyId, name, role } = c.get('principal');
        return c.json({ key_id: keyId, name, role });
      },
    },
  ];
}
