// What the Apollo suite shares: the server's addresses, clients made with ../apollo.js,
// the fake Replicate's control server, selfies as real Files, and bounded waits.
// tests/e2e/node_suite.py starts everything and sets these variables.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { gql } from '@apollo/client/core/index.js';
import WebSocket from 'ws';

import { makeClient } from '../apollo.js';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through tests/e2e/node_suite.py`);
  return value;
}

export const env = {
  get origin() {
    return required('SSELFIE_ORIGIN');
  },
  get httpUrl() {
    return required('SSELFIE_HTTP_URL');
  },
  get wsUrl() {
    return required('SSELFIE_WS_URL');
  },
  get controlUrl() {
    return required('SSELFIE_CONTROL_URL');
  },
  get selfiesDir() {
    return required('SSELFIE_SELFIES_DIR');
  },
};

const WAIT_MS = 20_000;

/** `promise`, or an error naming `what` after `ms`. */
export async function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asks the fake Replicate's control server to do something (see node_suite.py). */
export async function control(path, body) {
  const response = await within(
    fetch(`${env.controlUrl}${path}`, { method: 'POST', body: JSON.stringify(body) }),
    `control ${path}`,
  );
  const answer = await response.json();
  if (!response.ok) throw new Error(`control ${path} answered ${response.status}: ${answer.error}`);
  return answer;
}

/** A signed token for `subject` (a user of its own per test file keeps files apart). */
export async function tokenFor(subject) {
  return (await control('/tokens', { subject })).token;
}

/** A fetch that records every request (and a clone of its response) before sending it. */
export function recordingFetch() {
  const requests = [];
  const record = async (url, init = {}) => {
    const entry = { url: String(url), method: init.method ?? 'GET', body: init.body };
    requests.push(entry);
    const response = await fetch(url, init);
    entry.status = response.status;
    entry.response = response.clone();
    return response;
  };
  return Object.assign(record, { requests });
}

/** A client for `subject` built by ../apollo.js, its HTTP requests recorded. */
export async function clientFor(subject) {
  const fetch = recordingFetch();
  const token = await tokenFor(subject);
  const client = makeClient({
    httpUrl: env.httpUrl,
    wsUrl: env.wsUrl,
    token,
    fetch,
    webSocketImpl: WebSocket,
  });
  return { client, fetch, token };
}

/** The ten selfies as real `File`s. */
export async function selfieFiles() {
  const names = (await readdir(env.selfiesDir)).filter((name) => name.endsWith('.jpg')).sort();
  return Promise.all(
    names.map(
      async (name) =>
        new File([await readFile(join(env.selfiesDir, name))], name, { type: 'image/jpeg' }),
    ),
  );
}

/**
 * Subscribes and collects every result until the server completes the subscription;
 * `onFirst(result)` runs once the first result has arrived (the subscription is live).
 */
export function collect(client, query, variables, onFirst = async () => {}) {
  const results = [];
  let acted = Promise.resolve();
  const completed = new Promise((resolve, reject) => {
    client.subscribe({ query, variables }).subscribe({
      next(result) {
        results.push(result);
        if (result.errors?.length) {
          reject(new Error(`subscription errors: ${JSON.stringify(result.errors)}`));
        } else if (results.length === 1) {
          acted = onFirst(result);
          acted.catch(reject);
        }
      },
      error: reject,
      complete: () => resolve(results),
    });
  });
  // The subscription may complete before the action's own answer arrives: wait for both.
  const done = completed.then(async () => {
    await acted;
    return results;
  });
  return within(done, `the subscription to complete (${results.length} results so far)`);
}

export const START_TRAINING = gql`
  mutation StartTraining($input: StartTrainingInput!) {
    startTraining(input: $input) {
      trainingJob {
        id
        status
        progress
      }
      model {
        id
        status
        replicateModelId
        replicateVersionId
      }
    }
  }
`;

export const TRAINING_PROGRESS = gql`
  subscription TrainingProgress($id: ID) {
    trainingProgress(trainingJobId: $id) {
      id
      status
      progress
      model {
        id
        status
        replicateVersionId
      }
    }
  }
`;

export const GENERATION_FIELDS = gql`
  fragment GenerationFields on Generation {
    id
    status
    prompt
    images {
      id
      url
      contentType
      selected
    }
  }
`;

export const GENERATE_MAYA = gql`
  mutation GenerateMaya($prompt: String!) {
    generateMaya(input: { prompt: $prompt }) {
      generation {
        ...GenerationFields
      }
    }
  }
  ${GENERATION_FIELDS}
`;

export const GENERATION_UPDATED = gql`
  subscription GenerationUpdated($id: ID!) {
    generationUpdated(generationId: $id) {
      ...GenerationFields
    }
  }
  ${GENERATION_FIELDS}
`;

/** Starts a training with the selfies as Files; the mutation's payload. */
export async function startTraining(client) {
  const { data } = await within(
    client.mutate({
      mutation: START_TRAINING,
      variables: { input: { images: await selfieFiles() } },
    }),
    'startTraining',
  );
  return data.startTraining;
}

/** Trains the client's user: startTraining, the fake plays it, trainingProgress to its end. */
export async function train(client) {
  const { trainingJob, model } = await startTraining(client);
  let played;
  const updates = await collect(client, TRAINING_PROGRESS, { id: trainingJob.id }, async () => {
    played = await control('/trainings/play', { model: model.replicateModelId });
  });
  return { trainingJob, model, updates, played };
}

/** generateMaya, then generationUpdated to its end while the fake finishes the prediction. */
export async function generate(client, model, prompt) {
  const { data } = await within(
    client.mutate({ mutation: GENERATE_MAYA, variables: { prompt } }),
    'generateMaya',
  );
  const started = data.generateMaya.generation;
  const updates = await collect(client, GENERATION_UPDATED, { id: started.id }, () =>
    control('/predictions/succeed', { model: model.replicateModelId }),
  );
  return { started, updates, generation: updates.at(-1).data.generationUpdated };
}
