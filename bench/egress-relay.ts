// A floor `bench/egress.ts` compares the proxy with: a bare TLS relay in its own process, which ends
// the client's TLS with the server's own certificate, opens its own TLS to the server and pipes bytes
// both ways: the decrypt, re-encrypt and two extra hops any intercepting proxy in a Node process pays,
// without HTTP, policy or a log. Protocol: bench/egress-middle.ts.
import { connect, createServer } from 'node:tls';
import { answerBench, floorOptions } from './egress-middle.js';

const { key, cert, upstreamPort, upstreamCa } = floorOptions();
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
server.listen(0, '127.0.0.1', () =>
  answerBench({ port: (server.address() as { port: number }).port }, async () => void server.close()),
);
