// A local OpenID provider that behaves like ProConnect for cper's tests: the same endpoint paths,
// the same scopes and claims (given_name, usual_name, email, uid, siret, idp_id), the userinfo
// answered as a signed JWT (RS256), acr eidas1, logout through end_session with id_token_hint.
// Never a real provider: it listens on 127.0.0.1 only, with a key made at each start.
//
//   PORT=0 CPER_URL=http://127.0.0.1:8000 node tests/oidc/provider.mjs
//
// It prints one line `ready <issuer>` once it listens. Any login is accepted with any password
// (the library's development login page); the accounts below carry the claims a test expects,
// any other login gets an organisation no contract knows.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const cperUrl = (process.env.CPER_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const clientId = process.env.CLIENT_ID || 'cper-test';
const clientSecret = process.env.CLIENT_SECRET || 'cper-test-secret';

// SIRET = SIREN (9 digits) + NIC (5 digits). The first one's SIREN is the Département du Nord's
// in contracts/hauts-de-france-2021-2027.yaml; the second one's is the example of ProConnect's
// documentation, an organisation that is no partner.
const ACCOUNTS = {
  'agent.nord': {
    given_name: 'Camille',
    usual_name: 'Lefebvre',
    email: 'camille.lefebvre@nord.exemple.fr',
    siret: '22590001800011',
  },
  'agent.inconnu': {
    given_name: 'Dominique',
    usual_name: 'Bernard',
    email: 'dominique.bernard@exemple.gouv.fr',
    siret: '11002001300097',
  },
};

function claimsOf(login) {
  const known = ACCOUNTS[login] || {
    given_name: 'Agent',
    usual_name: login,
    email: `${login}@exemple.gouv.fr`,
    siret: '11002001300097',
  };
  return { ...known, uid: login, idp_id: 'fia-test' };
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

function start(port) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`${cperUrl}/proconnect/retour/`],
        post_logout_redirect_uris: [`${cperUrl}/proconnect/deconnecte/`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: 'RS256',
        userinfo_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [jwk] },
    acrValues: ['eidas1'],
    claims: {
      openid: ['sub'],
      email: ['email'],
      given_name: ['given_name'],
      usual_name: ['usual_name'],
      siret: ['siret'],
      uid: ['uid'],
      idp_id: ['idp_id'],
    },
    features: {
      devInteractions: { enabled: true },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // ProConnect's paths (https://<domaine>/api/v2/…), at the root of this issuer.
    routes: {
      authorization: '/authorize',
      token: '/token',
      userinfo: '/userinfo',
      jwks: '/jwks',
      end_session: '/session/end',
    },
    async findAccount(_ctx, id) {
      return { accountId: id, claims: async () => ({ sub: id, ...claimsOf(id) }) };
    },
    // cper is a first-party client: no consent screen, every requested scope is granted.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope);
      await grant.save();
      return grant;
    },
  });
  return provider;
}

// Listen first (port 0 picks a free one), then build the provider with the known issuer.
const server = http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const provider = start(port);
  server.on('request', provider.callback());
  process.stdout.write(`ready http://127.0.0.1:${port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
