// A local server speaking the Secrets Manager JSON protocol (GetSecretValue), for the real SDK client.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startSecretsManager(
  secrets: Record<string, string>,
): Promise<{ endpoint: string; close(): void }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { SecretId } = JSON.parse(Buffer.concat(chunks).toString());
    const value = secrets[SecretId];
    res.writeHead(value ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(
      JSON.stringify(
        value
          ? {
              ARN: `arn:aws:secretsmanager:us-east-1:1:secret:${SecretId}`,
              Name: SecretId,
              SecretString: value,
            }
          : {
              __type: 'ResourceNotFoundException',
              message: "Secrets Manager can't find the specified secret.",
            },
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}
