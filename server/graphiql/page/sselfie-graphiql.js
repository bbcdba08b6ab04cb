/*
 * sselfie's GraphiQL page (server/graphiql/): runs after React, ReactDOM and GraphiQL,
 * all served by this server. Queries go to this page's own URL over HTTP;
 * subscriptions over graphql-transport-ws to the same URL, where the Headers pane's
 * values become the connection_init payload (so "Authorization" signs them in too).
 */
(function () {
  "use strict";

  var TOKEN_PLACEHOLDER = "Bearer <token>";
  var DEFAULT_HEADERS = JSON.stringify({ Authorization: TOKEN_PLACEHOLDER }, null, 2);
  var DEFAULT_QUERY = [
    "# sselfie's GraphQL API.",
    "#",
    "# Sign in: in Headers below, replace <token>",
    "# with a token (in development,",
    "# `sselfie token alice` prints one). Without",
    "# a token only introspection is answered.",
    "#",
    "# Run: Ctrl-Enter or the play button.",
    "",
    "{",
    "  me {",
    "    id",
    "  }",
    "}",
    "",
  ].join("\n");

  var location = window.location;
  var url = location.origin + location.pathname;
  var subscriptionUrl =
    (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + location.pathname;

  // The untouched hint is no token at all: sent as is, it would be a rejected token,
  // which blocks even the schema's introspection.
  function withoutPlaceholder(headers) {
    if (!headers || typeof headers !== "object") {
      return headers;
    }
    var kept = {};
    Object.keys(headers).forEach(function (name) {
      var isHint =
        name.toLowerCase() === "authorization" &&
        String(headers[name]).trim() === TOKEN_PLACEHOLDER;
      if (!isHint) {
        kept[name] = headers[name];
      }
    });
    return kept;
  }

  var graphiqlFetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });

  function fetcher(params, options) {
    var opts = Object.assign({}, options);
    opts.headers = withoutPlaceholder(opts.headers);
    return graphiqlFetcher(params, opts);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: DEFAULT_HEADERS,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
