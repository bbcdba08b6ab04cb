// A page from an origin in CORS_ALLOWED_ORIGINS uses the API as a browser app would.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  API,
  SOCKET_URL,
  TOKEN,
  confineToLoopback,
  launchChromium,
  serveClientPage,
  setting,
} from './support.js';

const BOUNDED = { timeout: 30_000 };

let browser;
let site;
let page;
let traffic;
let imageUrls;

before(async () => {
  site = await serveClientPage(setting('SSELFIE_ALLOWED_PAGE_PORT'));
  browser = await launchChromium();
  const context = await browser.newContext();
  traffic = await confineToLoopback(context);
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${site.origin}/`);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('fetch reads the latest generation, with X-Request-Id exposed', BOUNDED, async () => {
  const answer = await page.evaluate(
    ([api, token]) => window.latestImages(api, token),
    [API, TOKEN],
  );

  assert.equal(answer.status, 200);
  assert.equal(answer.body.errors, undefined, JSON.stringify(answer.body.errors));
  assert.ok(answer.requestId, 'X-Request-Id is readable by the page');
  const [edge] = answer.body.data.me.generations.edges;
  assert.ok(edge, 'the user has a generation');
  assert.equal(edge.node.images.length, 3);
  imageUrls = edge.node.images.map((image) => image.url);
});

test('image URLs are absolute, on the API', BOUNDED, () => {
  assert.ok(imageUrls, 'the generation was read');
  for (const url of imageUrls) {
    assert.ok(url.startsWith(`${API}/images/`), `not an absolute URL on the API: ${url}`);
  }
});

test('an <img> shows the generated image; fetch reads it too', BOUNDED, async () => {
  assert.ok(imageUrls, 'the generation was read');
  const url = new URL(imageUrls[0], API).href;

  const shown = await page.evaluate((src) => window.showImage(src), url);
  assert.ok(shown.width > 0 && shown.height > 0, JSON.stringify(shown));
  assert.equal(await page.locator('#gallery img').count(), 1);

  const fetched = await page.evaluate((src) => window.fetchImage(src), url);
  assert.equal(fetched.status, 200);
  assert.equal(fetched.contentType, 'image/png');
  assert.deepEqual(fetched.signature, [0x89, 0x50, 0x4e, 0x47]);
});

test('a GET query needs no preflight and is readable', BOUNDED, async () => {
  const answer = await page.evaluate((api) => window.simpleQuery(api), API);

  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { data: { __typename: 'Query' } });
});

test('a WebSocket opens and signs in', BOUNDED, async () => {
  const outcome = await page.evaluate(
    ([url, token]) => window.openSocket(url, token),
    [SOCKET_URL, TOKEN],
  );

  assert.deepEqual(outcome, { opened: true, message: 'connection_ack' });
});

test('the page reached only loopback addresses', BOUNDED, () => {
  assert.deepEqual(traffic.offLoopback(), []);
});
