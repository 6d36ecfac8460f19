// Hocuspocus framing for the bench's load generator (bench/loadgen.mjs imports this only for a
// target whose protocol is "hocuspocus"; Coedit's and y-websocket's path never loads it).
//
// Hocuspocus 4 (@hocuspocus/server) multiplexes documents over one socket: every message in both
// directions starts with the document name (lib0 writeVarString), followed by the y-websocket
// message type and body. A document must be opened with an Auth message first:
//   client -> server  [doc][2 Auth][0 Token][token: varString][provider version: varString]
//   server -> client  [doc][2 Auth][2 Authenticated][scope: varString]   (or 1 PermissionDenied)
// Messages that arrive before the Authenticated answer are queued by the server, and
// HocuspocusProvider does the same as this file: Auth then SyncStep1 right after the socket
// opens, without waiting. The server also sends
//   [doc][8 SyncStatus][0|1]  after applying each update or step 2 of this client (an ack)
//   [doc][7 CLOSE][reason]    when it closes this document's connection
//   [doc][4 SyncReply]...     a sync message that must not trigger another step 1
//
// HocuspocusSocket wraps a `ws` WebSocket with the interface the load generator uses (open,
// message, error and close events; send, close, terminate, readyState, bufferedAmount). It adds
// the document prefix to what is sent, strips it from what arrives, answers nothing itself,
// and drops Auth and SyncStatus messages, so the load generator sees plain y-websocket frames.
// The document name is the last path segment of the URL (`<base>/ws/<encoded name>`), as for the
// other targets; Hocuspocus ignores the path itself.

import { EventEmitter } from 'node:events'

const MSG_SYNC = 0
const MSG_AUTH = 2
const MSG_SYNC_REPLY = 4
const MSG_CLOSE = 7
const MSG_SYNC_STATUS = 8
const AUTH_TOKEN = 0
const AUTH_PERMISSION_DENIED = 1
const AUTH_AUTHENTICATED = 2
// What the provider sends as its version; the server only records it.
const PROVIDER_VERSION = '4.7.0'
// A close code outside the WebSocket range, reported when the server sent CLOSE for the document.
const CLOSED_BY_SERVER = 4900

function writeVarUint (out, n) {
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  out.push(n)
}

function varString (s) {
  const bytes = Buffer.from(s, 'utf8')
  const out = []
  writeVarUint(out, bytes.length)
  return Buffer.concat([Buffer.from(out), bytes])
}

/** [value, next offset] of the varUint at buf[offset]. */
function readVarUint (buf, offset) {
  let n = 0
  let mult = 1
  for (let i = offset; i < buf.length; i++) {
    const b = buf[i]
    n += (b & 0x7f) * mult
    if (b < 0x80) return [n, i + 1]
    mult *= 128
  }
  throw new Error('truncated varUint')
}

function readVarString (buf, offset) {
  const [len, start] = readVarUint(buf, offset)
  return [buf.toString('utf8', start, start + len), start + len]
}

export function docNameFromUrl (url) {
  const path = new URL(url).pathname
  const at = path.lastIndexOf('/ws/')
  return decodeURIComponent(at >= 0 ? path.slice(at + 4) : path.slice(1))
}

export class HocuspocusSocket extends EventEmitter {
  constructor (WebSocket, url, options, token = '') {
    super()
    this.docName = docNameFromUrl(url)
    this.prefix = varString(this.docName)
    this.authenticated = false
    this.closeOverride = null
    this.ws = new WebSocket(url, options)
    this.ws.binaryType = 'nodebuffer'
    this.ws.on('open', () => {
      this._sendRaw(Buffer.concat([
        this.prefix, Buffer.from([MSG_AUTH, AUTH_TOKEN]), varString(token), varString(PROVIDER_VERSION),
      ]))
      this.emit('open')
    })
    this.ws.on('message', (data) => this._message(data))
    this.ws.on('error', (err) => this.emit('error', err))
    this.ws.on('close', (code, reason) => {
      if (this.closeOverride !== null) this.emit('close', ...this.closeOverride)
      else this.emit('close', code, reason)
    })
  }

  get readyState () { return this.ws.readyState }
  get bufferedAmount () { return this.ws.bufferedAmount }
  set binaryType (value) { /* always nodebuffer */ }

  _sendRaw (buf) {
    this.ws.send(buf)
  }

  send (frame) {
    this.ws.send(Buffer.concat([this.prefix, frame]))
  }

  close (code, reason) { this.ws.close(code, reason) }
  terminate () { this.ws.terminate() }

  _message (buf) {
    let name, at
    try {
      ;[name, at] = readVarString(buf, 0)
    } catch {
      this.emit('message', buf)
      return
    }
    if (name !== this.docName || at >= buf.length) return
    const type = buf[at]
    if (type === MSG_SYNC_STATUS) return
    if (type === MSG_AUTH) {
      const sub = buf[at + 1]
      if (sub === AUTH_AUTHENTICATED) {
        this.authenticated = true
      } else if (sub === AUTH_PERMISSION_DENIED) {
        const [reason] = readVarString(buf, at + 2)
        this.closeOverride = [CLOSED_BY_SERVER, Buffer.from(`permission denied: ${reason}`)]
        this.ws.close(1000)
      }
      return
    }
    if (type === MSG_CLOSE) {
      let reason = ''
      try { [reason] = readVarString(buf, at + 1) } catch {}
      this.closeOverride = [CLOSED_BY_SERVER, Buffer.from(`hocuspocus closed the document: ${reason}`)]
      this.ws.close(1000)
      return
    }
    if (type === MSG_SYNC_REPLY) {
      // The same sync message without the "answer with a step 1" hint: present it as plain sync.
      const copy = Buffer.from(buf.subarray(at))
      copy[0] = MSG_SYNC
      this.emit('message', copy)
      return
    }
    this.emit('message', buf.subarray(at))
  }
}

/** The load generator's socket factory for this protocol. */
export function hocuspocusSocketFactory (WebSocket, token = '') {
  return (url, options) => new HocuspocusSocket(WebSocket, url, options, token)
}
