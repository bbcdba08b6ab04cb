// GraphiQL, served by the API in development with every asset from the API itself, runs
// `{ me { id } }` with the token typed into its headers editor.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { API, TOKEN, USER_ID, confineToLoopback, launchChromium } from './support.js';

const BOUNDED = { timeout: 45_000 };
const QUERY = '{ me { id } }';

let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

// Replaces an editor's text as a paste would (typed keys would get brackets auto-closed).
async function replaceText(page, editor, text) {
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

function sentQuery(request) {
  try {
    return JSON.parse(request.postData() ?? 'null')?.query;
  } catch {
    return undefined;
  }
}

test('GraphiQL renders offline and runs { me { id } } with a token', BOUNDED, async () => {
  const context = await browser.newContext();
  const traffic = await confineToLoopback(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));

  const response = await page.goto(`${API}/graphql`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  const queryEditor = page.locator('.graphiql-query-editor .graphiql-editor');
  await queryEditor.waitFor().catch((error) => {
    throw new Error(
      `GraphiQL did not render (${error.message}); off-loopback requests: ` +
        `${JSON.stringify(traffic.offLoopback())}; page errors: ${JSON.stringify(pageErrors)}`,
    );
  });

  await replaceText(page, queryEditor, QUERY);
  const tools = page.locator('.graphiql-editor-tools');
  await tools.getByRole('button', { name: 'Headers', exact: true }).click();
  const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)');
  await replaceText(page, headersEditor, JSON.stringify({ Authorization: `Bearer ${TOKEN}` }));
  const sent = page.waitForRequest(
    (request) => request.method() === 'POST' && sentQuery(request) === QUERY,
  );
  await page.getByRole('button', { name: /^Execute query/ }).click();
  const request = await sent;
  assert.equal(request.url(), `${API}/graphql`);
  assert.equal((await request.allHeaders()).authorization, `Bearer ${TOKEN}`);

  const result = page.locator('.graphiql-response');
  await result.filter({ hasText: `"id": "${USER_ID}"` }).waitFor().catch(async (error) => {
    throw new Error(`no id in the result pane (${error.message}): ${await result.innerText()}`);
  });
  assert.doesNotMatch(await result.innerText(), /"errors"/);
  assert.deepEqual(traffic.offLoopback(), []);
  assert.ok(traffic.requested.some((url) => url.startsWith(`${API}/`)));
  assert.deepEqual(pageErrors, []);
  await context.close();
});
