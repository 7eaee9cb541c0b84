// A floor `bench/egress.ts` compares the proxy with: the plainest HTTPS forwarder Node makes, in its
// own process. Its HTTPS server (the server's own certificate) takes each request and sends it on
// through a keep-alive HTTPS agent, the response piped back: the HTTP exchange both ways that the
// proxy also does, without the interception library, policy or a log. Protocol: bench/egress-middle.ts.
import https from 'node:https';
import { answerBench, floorOptions } from './egress-middle.js';

const { key, cert, upstreamPort, upstreamCa } = floorOptions();
const agent = new https.Agent({ keepAlive: true, ca: upstreamCa, noDelay: true } as https.AgentOptions);
const server = https.createServer({ key, cert, noDelay: true }, (req, res) => {
  const upstream = https.request(
    {
      host: '127.0.0.1',
      port: upstreamPort,
      servername: 'allowed.test',
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    },
    (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
    },
  );
  upstream.once('error', () => res.destroy());
  req.pipe(upstream);
});
server.listen(0, '127.0.0.1', () =>
  answerBench({ port: (server.address() as { port: number }).port }, async () => {
    server.closeAllConnections();
    server.close();
    agent.destroy();
  }),
);
