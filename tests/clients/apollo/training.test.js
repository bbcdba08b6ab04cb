// Sign-in, training with real Files, MODEL_NOT_READY through Apollo's error object, and
// trainingProgress making the cached model READY without a refetch.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ApolloError, gql } from '@apollo/client/core/index.js';

import {
  GENERATE_MAYA,
  TRAINING_PROGRESS,
  clientFor,
  collect,
  control,
  startTraining,
  within,
} from './support.js';

const ME = gql`
  query Me {
    me {
      id
      model {
        id
        status
      }
    }
  }
`;

const MODEL_FRAGMENT = gql`
  fragment CachedModel on UserModel {
    id
    status
    replicateVersionId
  }
`;

let client;
let fetch;
let started; // startTraining's payload

before(async () => {
  ({ client, fetch } = await clientFor('apollo-training'));
});

after(() => client?.stop());

test('me answers the signed-in user, who has no model yet', async () => {
  const { data } = await within(client.query({ query: ME }), 'me');

  assert.ok(data.me.id);
  assert.equal(data.me.model, null);
  assert.equal(client.readQuery({ query: ME }).me.id, data.me.id);
});

test('startTraining takes the selfies as real Files (a multipart request)', async () => {
  started = await startTraining(client);

  const { status } = started.trainingJob;
  assert.ok(['QUEUED', 'STARTING'].includes(status), status);
  assert.equal(started.model.status, 'TRAINING');
  assert.equal(started.model.replicateVersionId, null);
  const multipart = fetch.requests.filter((request) => request.body instanceof FormData);
  assert.ok(multipart.length >= 1, 'the selfies went as multipart/form-data');
  const files = [...multipart.at(-1).body.values()].filter((value) => value instanceof File);
  assert.equal(files.length, 10);
});

test('generateMaya before the training has finished: MODEL_NOT_READY in ApolloError', async () => {
  const error = await client
    .mutate({ mutation: GENERATE_MAYA, variables: { prompt: 'a boat' } })
    .then(
      () => assert.fail('generateMaya succeeded without a trained model'),
      (thrown) => thrown,
    );

  assert.ok(error instanceof ApolloError, String(error));
  assert.equal(error.graphQLErrors[0].extensions.code, 'MODEL_NOT_READY');
  assert.equal(error.networkError, null);
});

test('trainingProgress to SUCCEEDED shows the cached model READY with no refetch', async () => {
  const modelId = client.cache.identify({ __typename: 'UserModel', id: started.model.id });
  assert.equal(client.readFragment({ id: modelId, fragment: MODEL_FRAGMENT }).status, 'TRAINING');
  const requestsBefore = fetch.requests.length;
  let played;

  const variables = { id: started.trainingJob.id };
  const updates = await collect(client, TRAINING_PROGRESS, variables, async () => {
    played = await control('/trainings/play', { model: started.model.replicateModelId });
  });

  const jobs = updates.map((update) => update.data.trainingProgress);
  assert.equal(jobs.at(-1).status, 'SUCCEEDED');
  assert.equal(jobs.at(-1).progress, 1);
  const progresses = jobs.map((job) => job.progress);
  assert.deepEqual(progresses, [...progresses].sort((a, b) => a - b));
  const cached = client.readFragment({ id: modelId, fragment: MODEL_FRAGMENT });
  assert.equal(cached.status, 'READY');
  assert.equal(cached.replicateVersionId, played.versionId);
  assert.equal(fetch.requests.length, requestsBefore, 'no HTTP request was made meanwhile');
});
