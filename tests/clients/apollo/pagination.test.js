// me.generations page by page with fetchMore: relayStylePagination merges them into one list.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { gql } from '@apollo/client/core/index.js';

import { clientFor, generate, train, within } from './support.js';

const GENERATIONS = gql`
  query Generations($first: Int!, $after: String, $source: GenerationSource) {
    me {
      id
      generations(first: $first, after: $after, source: $source) {
        edges {
          cursor
          node {
            id
            prompt
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`;

const COUNT = 5;
let client;
let created; // generation ids, oldest first

before(async () => {
  ({ client } = await clientFor('apollo-pagination'));
  const { model } = await train(client);
  created = [];
  for (let index = 0; index < COUNT; index += 1) {
    created.push((await generate(client, model, `portrait number ${index}`)).generation.id);
  }
});

after(() => client?.stop());

test('first: 2 then fetchMore with endCursor: the cache holds one list, newest first', async () => {
  const variables = { first: 2, source: 'MAYA' };
  const query = client.watchQuery({ query: GENERATIONS, variables });
  let watching;
  const firstPage = new Promise((resolve, reject) => {
    watching = query.subscribe({ next: resolve, error: reject });
  });
  const pages = [];
  let { data } = await within(firstPage, 'the first page');
  pages.push(data.me.generations.edges.length);
  while (data.me.generations.pageInfo.hasNextPage) {
    const { endCursor } = data.me.generations.pageInfo;
    const more = await within(query.fetchMore({ variables: { after: endCursor } }), 'a page');
    pages.push(more.data.me.generations.edges.length);
    data = query.getCurrentResult().data;
    assert.ok(pages.length <= COUNT, 'pagination ends');
  }

  assert.deepEqual(pages, [2, 2, 1]);
  const cached = client.readQuery({ query: GENERATIONS, variables });
  const ids = cached.me.generations.edges.map((edge) => edge.node.id);
  assert.deepEqual(ids, [...created].reverse());
  assert.equal(cached.me.generations.pageInfo.hasNextPage, false);
  assert.deepEqual(
    data.me.generations.edges.map((edge) => edge.node.id),
    ids,
    'the watched query shows the merged list too',
  );
  // `source` is a key argument: the unfiltered list is a list of its own, not cached yet.
  assert.equal(client.readQuery({ query: GENERATIONS, variables: { first: 2 } }), null);
  watching.unsubscribe();
});
