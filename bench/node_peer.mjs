// node-oidc-provider as a benchmark peer (bench/peers.py starts and stops it).
//
// It uses the oidc-provider package that tests/interop/node_op/ pins and installs (read
// only: imported from that node_modules by path), with the one feature the interop
// configuration leaves off and the benchmark needs: the client_credentials grant.
// A node:cluster of BENCH_WORKERS processes listens on BENCH_PORT, the same worker count
// Porta runs with. The primary generates one RS256 key so every worker publishes the same
// JWKS. Settings (env): BENCH_PORT, BENCH_WORKERS, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET,
// BENCH_OIDC_PROVIDER (path of oidc-provider's lib/index.js).
// Prints "BENCH_NODE_READY" once a worker listens.
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const port = Number(process.env.BENCH_PORT);
const workers = Number(process.env.BENCH_WORKERS || '1');

if (cluster.isPrimary) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'node-rs256' };
  for (let i = 0; i < workers; i += 1) {
    cluster.fork({ BENCH_JWK: JSON.stringify(jwk) });
  }
  let announced = false;
  cluster.on('listening', () => {
    if (!announced) {
      announced = true;
      console.log('BENCH_NODE_READY');
    }
  });
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { default: Provider } = await import(pathToFileURL(process.env.BENCH_OIDC_PROVIDER).href);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.BENCH_CLIENT_ID,
      client_secret: process.env.BENCH_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'bench',
    }],
    scopes: ['openid', 'offline_access', 'bench'],
    jwks: { keys: [JSON.parse(process.env.BENCH_JWK)] },
    cookies: { keys: ['bench-cookie-key-not-secret'] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
    },
  });
  provider.listen(port, '127.0.0.1');
}
