// `autovibe gateway`: the LLM gateway on its own, for agents that run outside a node agent.
import type { Command } from 'commander';
import { ConfigError } from '../../../shared/errors.js';

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description(
      'Run the LLM gateway: OpenAI, Responses, Anthropic and Gemini APIs in front of your providers, priced and budgeted',
    )
    .requiredOption('-c, --config <file>', 'gateway config (YAML), e.g. examples/gateway.yaml')
    .option('-p, --port <port>', 'port to listen on (overrides the config)')
    .addHelpText(
      'after',
      `
The gateway asks the control plane (env AUTOVIBE_URL or AUTOVIBE_API_URL) who each key belongs to and
leases budget from it,
with a node key (env AUTOVIBE_NODE_KEY). Agents call it with a task key (issued with each claim) or a
gateway key (\`autovibe keys create --role gateway\` with a binding), as
  OPENAI_BASE_URL=http://<host>:<port>/v1  OPENAI_API_KEY=<key>        (Chat Completions, Responses)
  ANTHROPIC_BASE_URL=http://<host>:<port>  ANTHROPIC_API_KEY=<key>     (Claude Code)
  GOOGLE_GEMINI_BASE_URL=http://<host>:<port>  GEMINI_API_KEY=<key>    (Gemini CLI, generateContent)
Every call is priced (a model without a price is refused), charged to the key's project budget and
logged to S3 under traffic-logs/. Prometheus metrics at /metrics. Ctrl-C settles budget leases and
writes the last of the traffic log before exiting.`,
    )
    .action(async (flags: { config: string; port?: string }) => {
      const [
        { readYamlFile },
        { NodeClient },
        { parseGatewayConfig },
        { startGateway },
        { configureLogging },
      ] = await Promise.all([
        import('../../../gpu-node-agent/config.js'),
        import('../../../gpu-node-agent/control-plane/node-client.js'),
        import('../../../gpu-node-agent/gateway/config.js'),
        import('../../../gpu-node-agent/gateway/server.js'),
        import('../../../shared/logger.js'),
      ]);
      if (!process.env.AUTOVIBE_LOG_FORMAT) configureLogging({ format: 'pretty' });
      const raw = (await readYamlFile(flags.config, 'gateway config')) as Record<string, unknown> | null;
      const config = parseGatewayConfig({ ...raw, ...(flags.port ? { port: Number(flags.port) } : {}) });
      const url = process.env.AUTOVIBE_URL ?? process.env.AUTOVIBE_API_URL;
      const key = process.env.AUTOVIBE_NODE_KEY;
      if (!url || !key)
        throw new ConfigError(
          'Set AUTOVIBE_URL (or AUTOVIBE_API_URL) and AUTOVIBE_NODE_KEY: the gateway resolves keys and leases budget from the control plane',
        );
      const link = new NodeClient(url, key);
      const gateway = await startGateway(config, { keys: link, budget: link, blobs: link, spend: link });
      console.log(
        `autovibe gateway on ${gateway.url}: ${config.models.length} models, ${config.providers.length} providers`,
      );
      let closing = false;
      const onSignal = () => {
        if (closing) process.exit(1);
        closing = true;
        console.log('closing: settling budget leases and flushing the traffic log (again to quit now)');
        void gateway.close().then(() => process.exit(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
}
