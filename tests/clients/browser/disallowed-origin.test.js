// The same page from an origin not in CORS_ALLOWED_ORIGINS: the browser keeps the API's
// answers from it and the server refuses its WebSocket.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import WebSocket from 'ws';

import {
  API,
  SOCKET_URL,
  TOKEN,
  launchChromium,
  serveClientPage,
  setting,
} from './support.js';

const BOUNDED = { timeout: 30_000 };

const FAILED_TO_FETCH = 'TypeError: Failed to fetch';

let browser;
let site;
let page;

before(async () => {
  site = await serveClientPage(setting('SSELFIE_DISALLOWED_PAGE_PORT'));
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${site.origin}/`);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('a preflighted fetch is blocked', BOUNDED, async () => {
  const failure = await page.evaluate(
    ([api, token]) => window.failure('latestImages', api, token),
    [API, TOKEN],
  );

  assert.equal(failure, FAILED_TO_FETCH);
});

test('a simple GET is blocked too', BOUNDED, async () => {
  const failure = await page.evaluate((api) => window.failure('simpleQuery', api), API);

  assert.equal(failure, FAILED_TO_FETCH);
});

test('the server sends that origin no Access-Control-Allow-Origin', BOUNDED, async () => {
  const preflight = await fetch(`${API}/graphql`, {
    method: 'OPTIONS',
    headers: {
      origin: site.origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });
  const query = await fetch(`${API}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
    headers: { origin: site.origin },
  });

  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  assert.equal(query.headers.get('access-control-allow-origin'), null);
});

test('a WebSocket from the page does not open', BOUNDED, async () => {
  const outcome = await page.evaluate(
    ([url, token]) => window.openSocket(url, token),
    [SOCKET_URL, TOKEN],
  );

  assert.equal(outcome.opened, false);
  assert.equal(outcome.closeCode, 1006);
});

test('the server refuses that upgrade with 403', BOUNDED, async () => {
  const status = await new Promise((resolve, reject) => {
    const socket = new WebSocket(SOCKET_URL, 'graphql-transport-ws', { origin: site.origin });
    socket.on('unexpected-response', (_request, response) => {
      response.resume();
      socket.terminate();
      resolve(response.statusCode);
    });
    socket.on('open', () => {
      socket.terminate();
      resolve('opened');
    });
    socket.on('error', reject);
  });

  assert.equal(status, 403);
});
