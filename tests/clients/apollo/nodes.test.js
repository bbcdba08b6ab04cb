// nodes(ids): the user's own objects in the order asked, null for anything else.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ApolloError, gql } from '@apollo/client/core/index.js';

import { clientFor, generate, startTraining, train, within } from './support.js';

const ME = gql`
  query MyId {
    me {
      id
    }
  }
`;

const NODES = gql`
  query Nodes($ids: [ID!]!) {
    nodes(ids: $ids) {
      id
      ... on UserModel {
        modelStatus: status
      }
      ... on TrainingJob {
        trainingStatus: status
      }
      ... on Generation {
        generationStatus: status
      }
      ... on GeneratedImage {
        selected
      }
    }
  }
`;

let client;
let mine; // the ids to ask for, with the type each should come back as

before(async () => {
  ({ client } = await clientFor('apollo-nodes'));
  const { model, trainingJob } = await train(client);
  const { generation } = await generate(client, model, 'in a library');
  const { data } = await within(client.query({ query: ME }), 'me');
  mine = {
    User: data.me.id,
    UserModel: model.id,
    TrainingJob: trainingJob.id,
    Generation: generation.id,
    GeneratedImage: generation.images[0].id,
  };
});

after(() => client?.stop());

test('nodes answers each owned object in order, null for another user\'s', async () => {
  const { client: bob } = await clientFor('apollo-nodes-bob');
  const bobs = await startTraining(bob); // bob's own model and job, still training
  const bobsUser = (await within(bob.query({ query: ME }), 'bob: me')).data.me.id;
  bob.stop();
  const ids = [
    mine.GeneratedImage,
    bobs.model.id,
    mine.UserModel,
    bobsUser,
    mine.TrainingJob,
    mine.Generation,
    bobs.trainingJob.id,
    mine.User,
  ];

  const { data } = await within(client.query({ query: NODES, variables: { ids } }), 'nodes');

  const types = data.nodes.map((node) => node?.__typename ?? null);
  assert.deepEqual(types, [
    'GeneratedImage',
    null,
    'UserModel',
    null,
    'TrainingJob',
    'Generation',
    null,
    'User',
  ]);
  const theirs = new Set([bobs.model.id, bobsUser, bobs.trainingJob.id]);
  assert.deepEqual(
    data.nodes.map((node) => node?.id ?? null),
    ids.map((id) => (theirs.has(id) ? null : id)),
  );
  assert.equal(data.nodes[2].modelStatus, 'READY');
  assert.equal(data.nodes[4].trainingStatus, 'SUCCEEDED');
  assert.equal(data.nodes[5].generationStatus, 'SUCCEEDED');
  // The objects are normalized: the cache answers the same list, nulls kept in place.
  assert.deepEqual(client.readQuery({ query: NODES, variables: { ids } }), data);
});

test('more than 100 ids: BAD_USER_INPUT in ApolloError', async () => {
  const ids = Array.from({ length: 101 }, () => mine.Generation);

  const error = await client.query({ query: NODES, variables: { ids } }).then(
    () => assert.fail('nodes took 101 ids'),
    (thrown) => thrown,
  );

  assert.ok(error instanceof ApolloError, String(error));
  assert.equal(error.graphQLErrors[0].extensions.code, 'BAD_USER_INPUT');
});
