// A real OpenID Connect issuer for iamd's federation tests: panva/oidc-provider on a loopback port.
//
//   node server.js CONFIG.json
//
// CONFIG: {"port": 0, "tls": {"cert": PATH, "key": PATH} | null, "jwks": {"keys": [PRIVATE JWKS]},
//          "clients": [{"client_id", "client_secret", "id_token_signed_response_alg"}]}
//
// Discovery (/.well-known/openid-configuration) and the JWKS (/jwks) are oidc-provider's own.  ID tokens
// are minted without a browser through a custom grant at the token endpoint (client_secret_basic):
//
//   POST /token  grant_type=urn:iamd:test:id-token  sub=...  claims={JSON of extra claims}  ttl=SECONDS
//
// The handler builds the token with the provider's own IdToken class and signing keys, exactly as the
// authorization-code flow would.  Key rotation without a restart:
//
//   POST /__admin/keys  {"keys": [PRIVATE JWKS]}   (replaces the provider: new keys, same port)
//
// The first line printed is {"issuer": URL} once the server listens.

import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

import Provider from 'oidc-provider';

const GRANT = 'urn:iamd:test:id-token';
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

async function mintIdToken(ctx) {
  const { client, params } = ctx.oidc;
  const { IdToken } = ctx.oidc.provider;
  if (!params.sub) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'sub is required' };
    return;
  }
  const token = new IdToken({ sub: params.sub }, { ctx, client });
  token.scope = 'openid';
  const extra = params.claims ? JSON.parse(params.claims) : {};
  for (const [name, value] of Object.entries(extra)) {
    token.set(name, value);
  }
  const ttl = params.ttl ? Number.parseInt(params.ttl, 10) : undefined;
  const expiresAt = ttl ? Math.floor(Date.now() / 1000) + ttl : null;
  ctx.body = { id_token: await token.issue({ use: 'idtoken', expiresAt }), token_type: 'N_A' };
}

function makeProvider(issuer, jwks) {
  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      ...c,
      grant_types: [GRANT],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks,
    features: { devInteractions: { enabled: false } },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'],
    },
    routes: { jwks: '/jwks', token: '/token' },
    ttl: { IdToken: 300 },
  });
  provider.proxy = false;
  provider.registerGrantType(GRANT, mintIdToken, ['sub', 'claims', 'ttl']);
  return provider;
}

let current = null;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  if (req.method === 'POST' && req.url === '/__admin/keys') {
    const jwks = JSON.parse(await readBody(req));
    current = makeProvider(config.issuer, jwks).callback();
    res.writeHead(204);
    res.end();
    return;
  }
  current(req, res);
}

const server = config.tls
  ? https.createServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, handle)
  : http.createServer(handle);

server.listen(config.port || 0, '127.0.0.1', () => {
  const scheme = config.tls ? 'https' : 'http';
  config.issuer = `${scheme}://127.0.0.1:${server.address().port}`;
  current = makeProvider(config.issuer, config.jwks).callback();
  process.stdout.write(`${JSON.stringify({ issuer: config.issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
