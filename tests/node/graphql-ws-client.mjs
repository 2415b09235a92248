// Drives orderdesk's websocket endpoint with the `graphql-ws` client library, so the server is
// checked against a graphql-transport-ws implementation no one here wrote.
//
// Usage: node graphql-ws-client.mjs '{"url": "ws://127.0.0.1:PORT/graphql", "token": "...",
//          "operations": [{"name": "a", "query": "subscription { ... }", "variables": {...}}]}'
//
// Prints one JSON object per line, as things happen:
//   {"event": "connected"}
//   {"name": "a", "event": "next", "payload": {...}}      an execution result
//   {"name": "a", "event": "error", "payload": [...]}     GraphQL errors (or a close event)
//   {"name": "a", "event": "complete"}
//   {"event": "closed", "code": 1000, "reason": "..."}
// Closing stdin disposes of the client; the script exits once the socket is closed.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const config = JSON.parse(process.argv[2]);

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function describe(error) {
  // A list of GraphQL errors, a close event, or an Error.
  if (Array.isArray(error)) return error;
  if (error && typeof error.code === 'number') return { code: error.code, reason: error.reason };
  return { message: String(error?.message ?? error) };
}

const client = createClient({
  url: config.url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${config.token}` },
  lazy: false,
  retryAttempts: 0,
  // Without it a non-lazy client that fails to connect throws from the connect promise.
  onNonLazyError: () => {},
  on: {
    connected: () => print({ event: 'connected' }),
    closed: (event) => {
      print({ event: 'closed', code: event.code, reason: event.reason });
      process.exit(0);
    },
  },
});

for (const { name, query, variables } of config.operations) {
  client.subscribe(
    { query, variables: variables ?? {} },
    {
      next: (payload) => print({ name, event: 'next', payload }),
      error: (error) => print({ name, event: 'error', payload: describe(error) }),
      complete: () => print({ name, event: 'complete' }),
    },
  );
}

process.stdin.resume();
process.stdin.on('end', () => {
  client.dispose();
});
