// How the attempt's agent reaches the node's LLM gateway: with the attempt's key, from this process,
// and from inside the sandbox when the agent asked for it (the gateway then listens on the address
// sandboxes see this machine at as well).
import type { GatewayAccess, SandboxNeeds } from '../../agents/agent.js';
import type { SandboxProvider } from '../../sandbox/sandbox.js';
import type { NodeGateway } from './ports.js';

export async function gatewayAccess(
  gateway: NodeGateway | null,
  provider: SandboxProvider,
  key: string,
  taskId: string,
  needs: SandboxNeeds,
): Promise<GatewayAccess | null> {
  if (!gateway) return null;
  return {
    baseUrl: gateway.url,
    baseUrlInSandbox: needs.gatewayAccess ? await gateway.listenAlso(await provider.gatewayHost()) : null,
    key,
    tap: (listener) => gateway.traffic.tap(taskId, listener),
  };
}
