// What a sandbox behind the egress proxy is given: the proxy in every variable clients read, and the
// node's CA as its whole trust store (every TLS connection it can make ends at the proxy, which
// verifies the real servers itself): the system bundle paths of the common distributions, and the
// variables Node, Python requests, OpenSSL, git, pip and npm read.
import type { ReadOnlyMount, SandboxEgress } from '../sandbox/sandbox.js';

export const SANDBOX_CA_PATH = '/etc/autovibe/egress-ca.pem';

/** Debian/Ubuntu/Alpine, RHEL/Fedora, and the OpenSSL default on Alpine and others. */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

export function egressEnv(egress: SandboxEgress): Record<string, string> {
  const noProxy = (egress.noProxy ?? []).join(',');
  const env: Record<string, string> = {
    NODE_EXTRA_CA_CERTS: SANDBOX_CA_PATH,
    REQUESTS_CA_BUNDLE: SANDBOX_CA_PATH,
    SSL_CERT_FILE: SANDBOX_CA_PATH,
    CURL_CA_BUNDLE: SANDBOX_CA_PATH,
    GIT_SSL_CAINFO: SANDBOX_CA_PATH,
    PIP_CERT: SANDBOX_CA_PATH,
    NPM_CONFIG_CAFILE: SANDBOX_CA_PATH,
  };
  // Lower and upper case: curl reads only the lower-case http_proxy, Go and others the upper.
  for (const name of ['http_proxy', 'https_proxy', 'all_proxy']) {
    env[name] = egress.proxyUrl;
    env[name.toUpperCase()] = egress.proxyUrl;
  }
  if (noProxy) {
    env.no_proxy = noProxy;
    env.NO_PROXY = noProxy;
  }
  return env;
}

export function egressMounts(egress: SandboxEgress): ReadOnlyMount[] {
  return [SANDBOX_CA_PATH, ...SYSTEM_BUNDLES].map((target) => ({ source: egress.caFile, target }));
}
