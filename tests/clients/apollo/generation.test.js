// generateMaya + generationUpdated, absolute image URLs that fetch without credentials, and
// selectImage keeping exactly one image of a generation selected in the cache.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { gql } from '@apollo/client/core/index.js';

import { clientFor, env, generate, train, within } from './support.js';

const SELECT_IMAGE = gql`
  mutation SelectImage($id: ID!) {
    selectImage(id: $id) {
      id
      selected
      generation {
        id
        images {
          id
          selected
        }
      }
    }
  }
`;

const IMAGES_FRAGMENT = gql`
  fragment CachedImages on Generation {
    id
    status
    images {
      id
      selected
    }
  }
`;

let client;
let model;
let generation; // as generationUpdated last showed it

before(async () => {
  ({ client } = await clientFor('apollo-generation'));
  ({ model } = await train(client));
});

after(() => client?.stop());

test('generateMaya, then generationUpdated follows it to SUCCEEDED with its images', async () => {
  const result = await generate(client, model, 'on a sailing boat at dawn');
  generation = result.generation;

  assert.equal(result.started.status, 'STARTING');
  const statuses = result.updates.map((update) => update.data.generationUpdated.status);
  assert.equal(statuses[0], 'STARTING');
  assert.equal(statuses.at(-1), 'SUCCEEDED');
  assert.equal(generation.images.length, 3);
  const id = client.cache.identify(generation);
  const cached = client.readFragment({ id, fragment: IMAGES_FRAGMENT });
  assert.equal(cached.status, 'SUCCEEDED');
  assert.equal(cached.images.length, 3);
});

test('image URLs are absolute on the server and fetch as PNGs with no credentials', async () => {
  for (const image of generation.images) {
    assert.ok(image.url.startsWith(`${env.origin}/`), image.url);
    const response = await within(fetch(image.url), `GET ${image.url}`);
    assert.equal(response.status, 200, image.url);
    assert.equal(response.headers.get('content-type'), 'image/png');
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]); // \x89PNG
  }
});

test('selectImage twice: exactly one image of the generation selected in the cache', async () => {
  const [first, second] = generation.images;
  const id = client.cache.identify(generation);

  await within(client.mutate({ mutation: SELECT_IMAGE, variables: { id: first.id } }), 'select A');
  const afterFirst = client.readFragment({ id, fragment: IMAGES_FRAGMENT });
  await within(client.mutate({ mutation: SELECT_IMAGE, variables: { id: second.id } }), 'select B');
  const afterSecond = client.readFragment({ id, fragment: IMAGES_FRAGMENT });

  const selected = (images) => images.filter((image) => image.selected).map((image) => image.id);
  assert.deepEqual(selected(afterFirst.images), [first.id]);
  assert.deepEqual(selected(afterSecond.images), [second.id]);
  const firstImage = client.readFragment({
    id: client.cache.identify({ __typename: 'GeneratedImage', id: first.id }),
    fragment: gql`
      fragment CachedImage on GeneratedImage {
        id
        selected
      }
    `,
  });
  assert.equal(firstImage.selected, false);
});
