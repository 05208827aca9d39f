// Gatehouse dev IdP: one node-oidc-provider instance on loopback, configured from a JSON file.
// Usage: node devidp/server.mjs CONFIG.json   (or DEVIDP_CONFIG=CONFIG.json). See devidp/README.md.
import { generateKeyPairSync, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import Provider from 'oidc-provider';

import { errorPage, loginPage, logoutPage, signedOutPage } from './pages.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KNOWN_KEYS = new Set([
  'issuer', 'port', 'host', 'display_name', 'keys_file', 'clients', 'users',
  'rotate_refresh_token', 'access_token_ttl', 'refresh_token_ttl', 'id_token_ttl',
  'token_audience', 'scim_audience', 'client_auth_methods',
]);
const DEFAULT_CLIENT_SCOPE = 'openid profile email offline_access wlcg wlcg.groups';
const CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
  email: ['email', 'email_verified'],
  'wlcg.groups': ['wlcg.groups'],
};
// Static scopes; storage.<op>:<path> scopes are dynamic and only ever go into access tokens.
const SCOPES = ['openid', 'offline_access', 'wlcg', 'scim:read', ...Object.keys(CLAIMS)];
const STORAGE_SCOPE = /^storage\.(read|create|modify|stage|poll):(\/\S*)$/;

function fail(message) {
  console.error(`devidp: ${message}`);
  process.exit(2);
}

// ---- configuration -------------------------------------------------------------------------

function loadConfig() {
  const path = process.argv[2] || process.env.DEVIDP_CONFIG;
  if (!path) fail('give the config file: node devidp/server.mjs CONFIG.json (or set DEVIDP_CONFIG)');
  const config = JSON.parse(readFileSync(path, 'utf8'));
  const unknown = Object.keys(config).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length) fail(`unknown config keys: ${unknown.join(', ')} (see devidp/README.md)`);
  if (!config.issuer) fail('config needs "issuer", e.g. "http://127.0.0.1:9400/"');
  const issuer = new URL(config.issuer);
  const host = config.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' || issuer.hostname !== '127.0.0.1' || issuer.protocol !== 'http:') {
    fail('the dev IdP serves http://127.0.0.1 only: fix "host" and "issuer"');
  }
  const port = Number(config.port ?? issuer.port);
  if (!port || String(port) !== issuer.port) fail('"port" must be the port in "issuer"');
  const ttl = (name, fallback) => Number(config[name] ?? fallback);
  const base = config.issuer.replace(/\/$/, '');
  // How clients may authenticate at the token endpoint (discovery's
  // token_endpoint_auth_methods_supported); e.g. ["client_secret_post"] for a post-only provider.
  // Without it, oidc-provider's own default list (basic first) applies.
  const authMethods = config.client_auth_methods;
  const known = new Set(['client_secret_basic', 'client_secret_post']);
  if (authMethods !== undefined && (!Array.isArray(authMethods) || !authMethods.length
      || authMethods.some((m) => !known.has(m)))) {
    fail('"client_auth_methods" must list client_secret_basic and/or client_secret_post');
  }
  return {
    issuer: config.issuer,
    host,
    port,
    mountPath: issuer.pathname.replace(/\/$/, ''),
    displayName: config.display_name ?? 'Dev IdP',
    keysFile: resolve(REPO_ROOT, config.keys_file ?? 'var/devidp/jwks.json'),
    clientAuthMethods: authMethods,
    clients: (config.clients ?? []).map(
      (client) => clientMetadata(client, authMethods?.[0] ?? 'client_secret_basic'),
    ),
    users: config.users ?? [],
    rotateRefreshToken: Boolean(config.rotate_refresh_token ?? false),
    accessTokenTTL: ttl('access_token_ttl', 3600),
    refreshTokenTTL: ttl('refresh_token_ttl', 30 * 24 * 3600),
    idTokenTTL: ttl('id_token_ttl', 3600),
    tokenAudience: config.token_audience ?? 'https://wlcg.cern.ch/jwt/v1/any',
    scimAudience: config.scim_audience ?? `${base}/scim`,
  };
}

// Returns [oidc-provider client metadata, every scope the client may ask for].
function clientMetadata(client, defaultAuthMethod) {
  const grantTypes = client.grant_types ?? ['authorization_code', 'refresh_token'];
  const interactive = grantTypes.includes('authorization_code');
  const scope = Array.isArray(client.scope) ? client.scope.join(' ') : client.scope;
  const allowed = scopeSet(scope ?? DEFAULT_CLIENT_SCOPE);
  const metadata = {
    token_endpoint_auth_method: defaultAuthMethod,
    ...client,
    grant_types: grantTypes,
    response_types: interactive ? ['code'] : [],
    redirect_uris: client.redirect_uris ?? [],
    scope: SCOPES.filter((s) => allowed.has(s)).join(' '),
  };
  return [metadata, allowed];
}

// Keys are made here, never fetched: one RS256 and one ES256 signing key, kept in keys_file.
async function loadOrCreateKeys(file) {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const pairs = [
    ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ];
  const keys = [];
  for (const [alg, { privateKey }] of pairs) {
    const jwk = privateKey.export({ format: 'jwk' });
    keys.push({ ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) });
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  return { keys };
}

// ---- users and scopes ----------------------------------------------------------------------

function userClaims(user) {
  const groups = user.groups ?? [];
  return {
    sub: user.sub,
    name: user.name,
    given_name: user.given_name,
    family_name: user.family_name,
    preferred_username: user.username,
    email: user.email,
    email_verified: user.email_verified ?? true,
    groups: groups.map((group) => group.replace(/^\//, '')),
    'wlcg.groups': groups.map((group) => (group.startsWith('/') ? group : `/${group}`)),
  };
}

const scopeSet = (value) => new Set((value ?? '').split(' ').filter(Boolean));

// A storage scope is allowed when the client may use the same operation on a parent path;
// paths compare by whole segments, so storage.read:/foo covers /foo/bar but not /foobar.
function scopeAllowed(allowed, scope) {
  if (allowed.has(scope)) return true;
  const wanted = STORAGE_SCOPE.exec(scope);
  if (!wanted) return false;
  return [...allowed].some((entry) => {
    const granted = STORAGE_SCOPE.exec(entry);
    if (!granted || granted[1] !== wanted[1]) return false;
    const base = granted[2].replace(/\/+$/, '');
    if (wanted[2].split('/').includes('..')) return false;
    return base === '' || wanted[2] === base || wanted[2].startsWith(`${base}/`);
  });
}

function passwordMatches(user, password) {
  const digest = (value) => createHash('sha256').update(String(value)).digest();
  return Boolean(user) && timingSafeEqual(digest(user.password), digest(password));
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---- the provider --------------------------------------------------------------------------

const cfg = loadConfig();
const jwks = await loadOrCreateKeys(cfg.keysFile);
const allowedScopes = new Map(cfg.clients.map(([client, allowed]) => [client.client_id, allowed]));
const usersBySub = new Map(cfg.users.map((user) => [user.sub, user]));
const usersByName = new Map(cfg.users.map((user) => [user.username, user]));

function resourceServerInfo(ctx, indicator, client) {
  const allowed = allowedScopes.get(client?.clientId) ?? new Set();
  let scope;
  if (indicator === cfg.scimAudience) {
    scope = allowed.has('scim:read') ? ['scim:read'] : [];
  } else {
    // Token requests carry no scope: also look at the code or refresh token being redeemed.
    const { params, entities } = ctx.oidc;
    const redeemed = [entities.AuthorizationCode?.scope, entities.RefreshToken?.scope];
    const requested = [params.scope, ...redeemed].flatMap((value) => [...scopeSet(value)]);
    scope = [...new Set([...allowed, ...requested.filter((s) => scopeAllowed(allowed, s))])]
      .filter((s) => s !== 'scim:read');
  }
  return {
    scope: scope.join(' '),
    audience: indicator,
    accessTokenFormat: 'jwt',
    accessTokenTTL: cfg.accessTokenTTL,
    jwt: { sign: { alg: 'RS256' } },
  };
}

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients.map(([metadata]) => metadata),
  ...(cfg.clientAuthMethods ? { clientAuthMethods: cfg.clientAuthMethods } : {}),
  jwks,
  claims: CLAIMS,
  scopes: SCOPES,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  responseTypes: ['code'],
  pkce: { required: () => true },
  rotateRefreshToken: cfg.rotateRefreshToken,
  clientBasedCORS: () => false,
  ttl: {
    AccessToken: cfg.accessTokenTTL,
    ClientCredentials: cfg.accessTokenTTL,
    IdToken: cfg.idTokenTTL,
    RefreshToken: cfg.refreshTokenTTL,
    AuthorizationCode: 60,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: Math.max(cfg.refreshTokenTTL, 24 * 3600),
  },
  async findAccount(ctx, sub) {
    const user = usersBySub.get(sub);
    return user && { accountId: sub, claims: async () => userClaims(user) };
  },
  // WLCG profile: every JWT access token says wlcg.ver, and carries wlcg.groups when asked for.
  async extraTokenClaims(ctx, token) {
    const extra = { 'wlcg.ver': '1.0' };
    const user = token.accountId && usersBySub.get(token.accountId);
    if (user && token.scopes.has('wlcg.groups')) {
      extra['wlcg.groups'] = userClaims(user)['wlcg.groups'];
    }
    return extra;
  },
  interactions: { url: (ctx, interaction) => `${cfg.mountPath}/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = logoutPage({ displayName: cfg.displayName, form });
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = signedOutPage({ displayName: cfg.displayName });
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => {
        if (oneOf) return oneOf[0];
        const scim = scopeSet(ctx.oidc.params.scope).has('scim:read');
        return scim ? cfg.scimAudience : cfg.tokenAudience;
      },
      useGrantedResource: () => true,
      getResourceServerInfo: resourceServerInfo,
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    const message = `${out.error}: ${out.error_description}`;
    ctx.body = errorPage({ displayName: cfg.displayName, message });
  },
});

provider.on('server_error', (ctx, error) => console.error(`server error: ${error.stack}`));
for (const event of ['grant.error', 'authorization.error', 'userinfo.error', 'end_session.error']) {
  provider.on(event, (ctx, error) => {
    console.log(`${event}: ${error.message} ${error.error_description ?? ''}`);
  });
}

// One log line per request; the path only, never the query string or the body.
provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const path = ctx.req.originalUrl.split('?')[0];
    console.log(`${ctx.method} ${path} ${ctx.status} ${Date.now() - started}ms`);
  }
});

// IAM hands out refresh tokens for offline_access without prompt=consent; oidc-provider follows
// OIDC Core and drops the scope unless consent is prompted. Consent is automatic here, so ask.
provider.use(async (ctx, next) => {
  const offline = scopeSet(ctx.query.scope).has('offline_access');
  if (ctx.method === 'GET' && ctx.path === '/auth' && offline) {
    const prompts = scopeSet(ctx.query.prompt);
    if (!prompts.has('none') && !prompts.has('consent')) {
      ctx.query = { ...ctx.query, prompt: [...prompts, 'consent'].join(' ') };
      ctx.req.originalUrl = cfg.mountPath + ctx.url; // oidc-provider finds its mount path by it
    }
  }
  return next();
});

// oidc-provider takes client_secret_basic and client_secret_post interchangeably, whatever its
// discovery announces. With client_auth_methods set, the token endpoint refuses the method left
// out (as a provider that offers only one does), so a client must follow discovery.
if (cfg.clientAuthMethods) {
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/token') return next();
    const used = /^basic /i.test(ctx.get('authorization'))
      ? 'client_secret_basic'
      : 'client_secret_post';
    if (cfg.clientAuthMethods.includes(used)) return next();
    ctx.status = 401;
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      error: 'invalid_client',
      error_description: `this provider accepts only ${cfg.clientAuthMethods.join(', ')}`,
    };
    return undefined;
  });
}

// Userinfo for JWT access tokens, which oidc-provider does not store and so cannot look up.
const publicKeys = createLocalJWKSet({
  keys: jwks.keys.map(({ kty, crv, x, y, n, e, kid, alg }) => ({ kty, crv, x, y, n, e, kid, alg })),
});
provider.use(async (ctx, next) => {
  const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(ctx.get('authorization'))?.[1];
  if (ctx.path !== '/me' || !token) return next();
  ctx.set('cache-control', 'no-store');
  const verified = await jwtVerify(token, publicKeys, {
    issuer: cfg.issuer, typ: 'at+jwt', algorithms: ['RS256', 'ES256'],
  }).catch(() => undefined);
  const payload = verified?.payload;
  const user = payload && usersBySub.get(payload.sub);
  const scopes = scopeSet(payload?.scope);
  if (!user || !scopes.has('openid')) {
    ctx.status = 401;
    ctx.set('www-authenticate', 'Bearer error="invalid_token"');
    ctx.body = { error: 'invalid_token', error_description: 'invalid access token for userinfo' };
    return undefined;
  }
  const claims = userClaims(user);
  const names = Object.entries(CLAIMS).flatMap(([scope, list]) => (scopes.has(scope) ? list : []));
  ctx.body = Object.fromEntries(names.map((n) => [n, claims[n]]).filter(([, v]) => v !== undefined));
  return undefined;
});

// Our own login page; consent is granted at once (all configured clients are first-party).
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
  if (!match) return next();
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
  if (!details) {
    ctx.status = 400;
    ctx.body = errorPage({ displayName: cfg.displayName, message: 'This sign-in has expired.' });
    return undefined;
  }
  const client = await provider.Client.find(details.params.client_id);
  const finish = async (result) => {
    const options = { mergeWithLastSubmission: false };
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, options));
  };

  if (details.prompt.name === 'consent') {
    const { grantId, prompt: { details: missing } } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: client.clientId });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return finish({ consent: { grantId: await grant.save() } });
  }

  const view = {
    displayName: cfg.displayName,
    clientName: client.clientName ?? client.clientId,
    action: `${cfg.mountPath}/interaction/${details.uid}/login`,
  };
  if (ctx.method === 'POST' && match[2]) {
    const form = await readForm(ctx.req);
    const user = usersByName.get(form.get('login'));
    if (passwordMatches(user, form.get('password'))) {
      return finish({ login: { accountId: user.sub } });
    }
    view.login = form.get('login') ?? '';
    view.error = 'The username or password is not right. Check both and sign in again.';
  }
  ctx.type = 'html';
  ctx.body = loginPage(view);
  return undefined;
});

// Serve the provider under the issuer's path; "//.well-known" from naive joins is tolerated.
const callback = provider.callback();
const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://127.0.0.1');
  const inside = pathname === cfg.mountPath || pathname.startsWith(`${cfg.mountPath}/`);
  if (!inside) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  req.url = req.url.slice(cfg.mountPath.length).replace(/^\/*/, '/');
  req.originalUrl = cfg.mountPath + req.url;
  callback(req, res);
});
server.listen(cfg.port, cfg.host, () => console.log(`devidp ready ${cfg.issuer}`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
