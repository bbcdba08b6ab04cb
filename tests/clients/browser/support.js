// What the browser tests share: Debian's Chromium, the client page, its loopback server.
// Run through tests/e2e/test_browser.py, which starts the API and passes these variables.

import http from 'node:http';
import { chromium } from 'playwright-core';

export function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/e2e/test_browser.py`);
  }
  return value;
}

// The API's origin (`http://127.0.0.1:PORT`) and WebSocket URL; a token for alice, whose
// latest generation has succeeded, and her user id.
export const API = setting('SSELFIE_ORIGIN');
export const SOCKET_URL = setting('SSELFIE_WS_URL');
export const TOKEN = setting('SSELFIE_TOKEN_ALICE');
export const USER_ID = setting('SSELFIE_USER_ID');

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HOSTLESS_SCHEMES = new Set(['data:', 'blob:', 'about:']);

export function isLoopback(url) {
  const parsed = new URL(url);
  return HOSTLESS_SCHEMES.has(parsed.protocol) || LOOPBACK_HOSTS.has(parsed.hostname);
}

// Records every request a browser context makes and aborts those leaving the machine,
// so a page reaching for a CDN fails at once instead of waiting on the network.
export async function confineToLoopback(context) {
  const requested = [];
  context.on('request', (request) => requested.push(request.url()));
  await context.route(
    (url) => !isLoopback(url.href),
    (route) => route.abort('blockedbyclient'),
  );
  return {
    requested,
    offLoopback: () => requested.filter((url) => !isLoopback(url)),
  };
}

// The page a browser app would be: it calls the API with fetch and shows generated images.
// Everything it does runs in the page, from its own origin.
const CLIENT_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sselfie client</title>
  <link rel="icon" href="data:,">
</head>
<body>
  <main id="gallery"></main>
  <script>
    const LATEST_IMAGES = '{ me { generations(first: 1) { edges { node { images { url } } } } } }';

    // POST with Authorization and JSON: a request the browser preflights.
    window.latestImages = async (api, token) => {
      const response = await fetch(api + '/graphql', {
        method: 'POST',
        headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
        body: JSON.stringify({ query: LATEST_IMAGES }),
      });
      return {
        status: response.status,
        requestId: response.headers.get('x-request-id'),
        body: await response.json(),
      };
    };

    // A GET query with no custom header: a "simple" request, not preflighted.
    window.simpleQuery = async (api) => {
      const response = await fetch(api + '/graphql?query=' + encodeURIComponent('{ __typename }'));
      return { status: response.status, body: await response.json() };
    };

    window.fetchImage = async (url) => {
      const response = await fetch(url);
      const bytes = new Uint8Array(await response.arrayBuffer());
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        signature: Array.from(bytes.slice(0, 4)),
      };
    };

    window.showImage = (url) => new Promise((resolve, reject) => {
      const image = document.createElement('img');
      image.alt = 'a generated photo';
      image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
      image.onerror = () => reject(new Error('the image did not load: ' + url));
      image.src = url;
      document.getElementById('gallery').append(image);
    });

    // Opens a graphql-transport-ws connection and signs in: "acknowledged", or how it ended.
    window.openSocket = (url, token) => new Promise((resolve) => {
      const socket = new WebSocket(url, 'graphql-transport-ws');
      let opened = false;
      socket.onopen = () => {
        opened = true;
        socket.send(JSON.stringify({
          type: 'connection_init', payload: { authorization: 'Bearer ' + token },
        }));
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        socket.close();
        resolve({ opened, message: message.type });
      };
      socket.onclose = (event) => resolve({ opened, closeCode: event.code });
    });

    // How one of the calls above failed in the page ("TypeError: Failed to fetch"), or null.
    window.failure = async (name, ...args) => {
      try {
        await window[name](...args);
        return null;
      } catch (error) {
        return error.name + ': ' + error.message;
      }
    };
  </script>
</body>
</html>
`;

// Serves the client page at `http://127.0.0.1:PORT/` until `close()`.
export async function serveClientPage(port) {
  const server = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(CLIENT_PAGE);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), '127.0.0.1', resolve);
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
