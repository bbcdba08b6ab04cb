// The one Apollo Client setup. README.md's "Use it from a React app" shows the code between
// the markers verbatim (tests/e2e/test_apollo_client.py keeps the two in step), and the Node
// suite in apollo/ drives the real server with it.

// README:start
// (The /index.js paths are what Node's ES modules need; a bundler takes them too.)
import { ApolloClient, InMemoryCache, split } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities/index.js';
import createUploadLink from 'apollo-upload-client/createUploadLink.mjs';
import { createClient } from 'graphql-ws';

// Persisted queries send this hash of a query instead of its text (Web Crypto: browsers, Node 20).
export async function sha256(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

// `fetch` and `webSocketImpl` are optional in a browser; in Node pass `WebSocket` from 'ws'.
export function makeClient({ httpUrl, wsUrl, token, fetch, webSocketImpl }) {
  const authorization = `Bearer ${token}`;
  // Subscriptions over graphql-transport-ws; the token goes in connection_init.
  const wsLink = new GraphQLWsLink(
    createClient({ url: wsUrl, connectionParams: { authorization }, webSocketImpl }),
  );
  // Queries and mutations over HTTP: JSON, or multipart when the variables hold Files.
  // Apollo-Require-Preflight satisfies the server's CSRF rule for multipart requests.
  const httpLink = createPersistedQueryLink({ sha256 }).concat(
    createUploadLink({
      uri: httpUrl,
      fetch,
      headers: { authorization, 'Apollo-Require-Preflight': 'true' },
    }),
  );
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  };
  return new ApolloClient({
    link: split(isSubscription, wsLink, httpLink),
    cache: new InMemoryCache({
      possibleTypes: {
        Node: ['User', 'UserModel', 'TrainingJob', 'Generation', 'GeneratedImage'],
      },
      typePolicies: {
        User: {
          fields: {
            generations: relayStylePagination(['source']),
            trainingJobs: relayStylePagination(),
          },
        },
      },
    }),
  });
}
// README:end
