// A stock Yjs client for the server tests: yjs 13 + y-websocket's WebsocketProvider over `ws`.
// Driven by JSON lines on stdin; answers with JSON lines on stdout.
//   {"cmd": "insert", "index": 0, "text": "..."}  insert into the Y.Text "t"
//   {"cmd": "delete", "index": 0, "length": 1}   delete from the Y.Text "t"
//   {"cmd": "map", "key": "k", "value": 1}        set a key of the Y.Map "m"
//   {"cmd": "awareness", "state": {...}}           set the local awareness state
//   {"cmd": "wait_text", "contains": "..."}        answer once "t" contains the string
//   {"cmd": "wait_awareness", "clientID": 123}     answer once that client's state is known
//   {"cmd": "dump"}                                answer with the document, awareness and
//                                                  how many errors were logged
//   {"cmd": "exit"}                                disconnect cleanly and exit
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const [serverUrl, room] = process.argv.slice(2)
const doc = new Y.Doc()
const provider = new WebsocketProvider(serverUrl, encodeURIComponent(room), doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true
})
const text = doc.getText('t')
const map = doc.getMap('m')
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// y-protocols catches what Yjs throws while applying an update and only logs it: count them.
let updateErrors = 0
const logError = console.error
console.error = (...args) => { updateErrors++; logError(...args) }

const dump = () => ({
  updateErrors,
  text: text.toString(),
  map: map.toJSON(),
  clientID: doc.clientID,
  awareness: Object.fromEntries(provider.awareness.getStates())
})

provider.on('sync', (synced) => { if (synced) say({ event: 'synced', clientID: doc.clientID }) })
provider.on('connection-close', (event) => say({ event: 'closed', code: event && event.code }))

const waiters = []
const checkWaiters = () => {
  for (let i = waiters.length - 1; i >= 0; i--) {
    if (text.toString().includes(waiters[i])) {
      say({ event: 'text', text: text.toString() })
      waiters.splice(i, 1)
    }
  }
}
text.observe(checkWaiters)

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const msg = JSON.parse(line)
  switch (msg.cmd) {
    case 'insert': text.insert(msg.index, msg.text); say({ ok: 'insert' }); break
    case 'delete': text.delete(msg.index, msg.length); say({ ok: 'delete' }); break
    case 'map': map.set(msg.key, msg.value); say({ ok: 'map' }); break
    case 'awareness': provider.awareness.setLocalState(msg.state); say({ ok: 'awareness' }); break
    case 'wait_text': waiters.push(msg.contains); checkWaiters(); break
    case 'wait_awareness': {
      const check = () => {
        if (provider.awareness.getStates().has(msg.clientID)) {
          provider.awareness.off('change', check)
          say({ event: 'awareness', clientID: msg.clientID })
        }
      }
      provider.awareness.on('change', check)
      check()
      break
    }
    case 'dump': say({ event: 'dump', ...dump() }); break
    case 'exit': provider.destroy(); say({ ok: 'exit' }); setTimeout(() => process.exit(0), 50); break
    default: say({ error: `unknown command ${msg.cmd}` })
  }
})
