// Benchmark peer: the y-websocket server (npm @y/websocket-server; `y-websocket` 3.x is only the
// client) with its LevelDB persistence (y-leveldb), switched on the package's own way: the
// YPERSISTENCE environment variable, read when its utils module is first imported.
//
// Usage: node bench/peers/ywebsocket.mjs --port PORT --dir LEVELDB_DIR [--host 127.0.0.1]
//
// This is the package's bin (src/server.js) plus what the bench needs: a port chosen by the
// kernel (--port 0) and reported on a ready line, GET /healthz with the number of documents in
// memory, and a clean SIGTERM. The bin has no signal handling at all, so a SIGTERM would kill it
// with y-leveldb's write queue still pending; here the sockets are closed and the queue is
// drained (LeveldbPersistence.destroy() runs after every queued write) before exiting 0.
// The connection handler, document map, persistence and `ws` are the package's own.

import http from 'node:http'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    dir: { type: 'string' },
  },
})
if (!values.dir) {
  console.error('usage: node ywebsocket.mjs --port PORT --dir LEVELDB_DIR [--host 127.0.0.1]')
  process.exit(2)
}
process.env.YPERSISTENCE = values.dir

const { setupWSConnection, docs, getPersistence } = await import('@y/websocket-server/utils')
// The `ws` that @y/websocket-server itself depends on (its bin uses the same one).
const pkgRequire = createRequire(createRequire(import.meta.url).resolve('@y/websocket-server/package.json'))
const WebSocket = pkgRequire('ws')

const wss = new WebSocket.Server({ noServer: true })
wss.on('connection', setupWSConnection)

const server = http.createServer((request, response) => {
  if (request.url === '/healthz') {
    response.writeHead(200, { 'Content-Type': 'application/json' })
    response.end(JSON.stringify({ rooms: docs.size, connections: wss.clients.size }))
    return
  }
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('okay')
})
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
})

let stopping = false
async function stop () {
  if (stopping) return
  stopping = true
  const deadline = setTimeout(() => {
    console.error('shutdown did not finish within 60 s')
    process.exit(1)
  }, 60_000)
  server.close()
  for (const ws of wss.clients) ws.terminate()
  // Closing the last connection of a document unloads it (the package's closeConn); queued
  // LevelDB writes are still pending: destroy() is queued after them and closes the database.
  const persistence = getPersistence()
  if (persistence !== null) await persistence.provider.destroy()
  clearTimeout(deadline)
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

server.listen(Number(values.port), values.host, () => {
  console.log(`peer ywebsocket listening on http://${values.host}:${server.address().port}`)
})
