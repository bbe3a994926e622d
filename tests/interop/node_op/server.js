// node-oidc-provider configured as an independent OpenID provider for Porta's
// interop and conformance tests.  Started by launcher.py; reads its settings
// from the JSON file named by NODE_OP_CONFIG:
//   { "port": 1234, "issuer": "http://127.0.0.1:1234",
//     "clients": [ {client metadata, RFC 7591 names} ... ],
//     "users": [ {"username": "...", "password": "...", "claims": {...}} ] }
// Prints "NODE_OP_READY <issuer>" on stdout once it listens.
import { readFileSync } from 'node:fs';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.env.NODE_OP_CONFIG, 'utf8'));

async function signingKeys() {
  const keys = [];
  for (const [alg, options] of [['RS256', { modulusLength: 2048 }], ['ES256', {}]]) {
    const { privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    const jwk = await exportJWK(privateKey);
    keys.push({ ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-interop` });
  }
  return keys;
}

// Accounts: the login form of the development interactions accepts any login,
// so the account is looked up by the submitted login name; unknown names get
// an account with only a subject.
const accounts = new Map(settings.users.map((u) => [u.username, u]));

const configuration = {
  clients: settings.clients,
  jwks: { keys: await signingKeys() },
  cookies: { keys: ['interop-cookie-key-not-secret'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'updated_at'],
  },
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: true },
    registration: { enabled: true },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ...(settings.code_ttl ? { ttl: { AuthorizationCode: settings.code_ttl } } : {}),
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256'],
  },
  async findAccount(ctx, id) {
    const user = accounts.get(id);
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(user ? user.claims : {}) };
      },
    };
  },
};

const provider = new Provider(settings.issuer, configuration);
// The development interaction pages (login, consent) are the deployer's to harden:
// node-oidc-provider leaves anti-framing headers to them. RFC 9700 §4.16 requires
// clickjacking protection, so this deployment adds it as any operator must.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path.startsWith('/interaction/') || ctx.path.startsWith('/session/end')) {
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Content-Security-Policy', "frame-ancestors 'none'");
  }
});
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

provider.listen(settings.port, '127.0.0.1', () => {
  console.log(`NODE_OP_READY ${settings.issuer}`);
});
