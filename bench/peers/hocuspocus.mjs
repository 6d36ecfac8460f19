// Benchmark peer: Hocuspocus (npm @hocuspocus/server) with its SQLite extension
// (@hocuspocus/extension-sqlite), both installed by package name from bench/package.json.
//
// Usage: node bench/peers/hocuspocus.mjs --port PORT --db FILE [--host 127.0.0.1]
//
// Prints `peer hocuspocus listening on http://HOST:PORT` when it accepts connections (PORT 0: the
// kernel picks one and the line tells which). SIGTERM/SIGINT run Hocuspocus's own shutdown
// (`stopOnSignals`): every connection is closed, pending stores are flushed to SQLite, then the
// process exits 0. GET /healthz answers {"rooms": <documents in memory>} for the bench.
//
// Speaks Hocuspocus's protocol (every message prefixed with the document name, an Auth message
// first); the bench's load generator frames its y-websocket messages accordingly for this peer.

import { parseArgs } from 'node:util'

import { SQLite } from '@hocuspocus/extension-sqlite'
import { Server } from '@hocuspocus/server'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    db: { type: 'string' },
  },
})
if (!values.db) {
  console.error('usage: node hocuspocus.mjs --port PORT --db FILE [--host 127.0.0.1]')
  process.exit(2)
}

const server = new Server({
  address: values.host,
  port: Number(values.port),
  quiet: true,
  // The load clients never send awareness renewals (which keep a real HocuspocusProvider's socket
  // busy every 15 s), so Hocuspocus's idle timeout (60 s) would close clients that wait for the
  // rest of a scenario. Nothing else is changed from the defaults (debounce 2 s, maxDebounce 10 s,
  // unloadImmediately).
  timeout: 600_000,
  extensions: [new SQLite({ database: values.db })],
  async onRequest ({ request, response, instance }) {
    if (request.url === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'application/json' })
      response.end(JSON.stringify({
        rooms: instance.getDocumentsCount(),
        connections: instance.getConnectionsCount(),
      }))
      // A rejection without an error stops Hocuspocus's default response.
      throw null // eslint-disable-line no-throw-literal
    }
  },
})

await server.listen()
console.log(`peer hocuspocus listening on http://${values.host}:${server.address.port}`)
