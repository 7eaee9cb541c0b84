// The floor `bench/egress.ts` compares the proxy with: a bare TLS relay in its own process, which
// ends the client's TLS with the server's own certificate and opens its own TLS to the server, then
// pipes bytes both ways: the decrypt, re-encrypt and two extra hops that any intercepting proxy in a
// Node process pays, without HTTP, policy or a log. Same protocol as `bench/egress-proxy.ts`: forked
// with [JSON {key, cert, upstreamPort, upstreamCa}], answers {type: 'ready', info: {port}}, {type:
// 'cpu'}, {type: 'stop'}.
import { connect, createServer } from 'node:tls';
import { usage } from './egress-proxy-usage.js';

const { key, cert, upstreamPort, upstreamCa } = JSON.parse(process.argv[2] ?? '{}') as {
  key: string;
  cert: string;
  upstreamPort: number;
  upstreamCa: string;
};
const server = createServer({ key, cert }, (client) => {
  client.setNoDelay(true);
  const upstream = connect({
    host: '127.0.0.1',
    port: upstreamPort,
    servername: client.servername || 'allowed.test',
    ca: upstreamCa,
  });
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.once('error', close);
  upstream.once('error', close);
});
server.listen(0, '127.0.0.1', () => {
  process.on('message', (message: { type: string }) => {
    if (message.type === 'cpu') process.send?.({ type: 'cpu', info: usage() });
    if (message.type === 'stop') server.close(() => process.exit(0));
  });
  process.send?.({ type: 'ready', info: { port: (server.address() as { port: number }).port } });
});
