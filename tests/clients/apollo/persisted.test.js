// Automatic persisted queries with Apollo's own link: hash only, PERSISTED_QUERY_NOT_FOUND,
// the query sent once, then the hash alone is enough; over POST and over GET.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, test } from 'node:test';

import { ApolloClient, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import createUploadLink from 'apollo-upload-client/createUploadLink.mjs';
import { print } from 'graphql';

import { sha256 } from '../apollo.js';
import { clientFor, env, recordingFetch, tokenFor, within } from './support.js';

// A query no one has sent before (an alias unique to this run), so its hash is unknown.
function freshQuery() {
  const alias = `probe_${randomBytes(6).toString('hex')}`;
  return gql`
    query Probe {
      me {
        id
        ${alias}: id
      }
    }
  `;
}

/** What a recorded request carried: its method, and the GraphQL request's fields. */
function sent(request) {
  if (request.method === 'GET') {
    const params = new URL(request.url).searchParams;
    return {
      method: 'GET',
      query: params.get('query') ?? undefined,
      extensions: JSON.parse(params.get('extensions') ?? '{}'),
    };
  }
  const body = JSON.parse(request.body);
  return { method: request.method, query: body.query, extensions: body.extensions ?? {} };
}

async function codes(request) {
  const body = await request.response.clone().json();
  return (body.errors ?? []).map((error) => error.extensions?.code);
}

async function assertProtocol(requests, query, method) {
  const [hashOnly, withQuery, hashAgain, ...rest] = requests;
  assert.equal(rest.length, 0, `three requests, not ${requests.length}`);
  // The query as Apollo sent it (with __typename added) is what the hash is of.
  const text = sent(withQuery).query;
  assert.ok(text.includes(print(query).match(/probe_\w+/)[0]), text);
  const hash = await sha256(text);
  assert.deepEqual(sent(hashOnly), {
    method,
    query: undefined,
    extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
  });
  assert.deepEqual(await codes(hashOnly), ['PERSISTED_QUERY_NOT_FOUND']);
  assert.deepEqual(sent(withQuery), {
    method: 'POST',
    query: text,
    extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
  });
  assert.deepEqual(await codes(withQuery), []);
  assert.deepEqual(sent(hashAgain), {
    method,
    query: undefined,
    extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
  });
  assert.equal(hashAgain.status, 200);
  assert.deepEqual(await codes(hashAgain), []);
}

// A fresh query run twice from the network: registered by the first, hash-only the second.
async function queryTwice(client, fetch, method) {
  const query = freshQuery();
  const first = await within(client.query({ query, fetchPolicy: 'network-only' }), 'first');
  const second = await within(client.query({ query, fetchPolicy: 'network-only' }), 'second');
  client.stop();
  assert.ok(first.data.me.id);
  assert.deepEqual(second.data, first.data);
  await assertProtocol(fetch.requests, query, method);
}

let token;
before(async () => {
  token = await tokenFor('apollo-persisted');
});

test('POST: the hash alone, PERSISTED_QUERY_NOT_FOUND, the query once, then the hash', async () => {
  const { client, fetch } = await clientFor('apollo-persisted');

  await queryTwice(client, fetch, 'POST');
});

test('GET (useGETForHashedQueries): the hash in the URL, the query once by POST', async () => {
  const fetch = recordingFetch();
  const client = new ApolloClient({
    link: createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
      createUploadLink({
        uri: env.httpUrl,
        fetch,
        headers: { authorization: `Bearer ${token}`, 'Apollo-Require-Preflight': 'true' },
      }),
    ),
    cache: new InMemoryCache(),
  });

  await queryTwice(client, fetch, 'GET');
});

test('a hash that does not match its query: BAD_USER_INPUT', async () => {
  const query = print(freshQuery());
  const wrong = await sha256(`${query} `);

  const response = await within(
    fetch(env.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query,
        extensions: { persistedQuery: { version: 1, sha256Hash: wrong } },
      }),
    }),
    'a mismatched hash',
  );

  const body = await response.json();
  assert.deepEqual(
    body.errors.map((error) => error.extensions.code),
    ['BAD_USER_INPUT'],
  );
});
