// Step 1, authorise: who pays for the call (the key's identity, from the key cache) and whether that
// key may use the model it asked for.
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayIdentity } from '../../../shared/domain/api-key.js';
import { ForbiddenError } from '../../../shared/errors.js';
import { type KeyResolver, keyFromHeaders } from '../key-resolver.js';

export function authorise(keys: KeyResolver, headers: IncomingHttpHeaders): Promise<GatewayIdentity> {
  return keys.resolve(keyFromHeaders(headers));
}

/** A key bound to some models may use only those; a key bound to none may use any. */
export function checkModelAllowed(identity: GatewayIdentity, model: string): void {
  if (identity.allowed_models.length === 0 || identity.allowed_models.includes(model)) return;
  throw new ForbiddenError(
    `This key may only use ${identity.allowed_models.join(', ')}; it asked for ${model}`,
    { details: [{ path: 'model', problem: 'not allowed for this key' }] },
  );
}
