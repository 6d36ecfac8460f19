// Coedit load generator: speaks the y-websocket protocol to one server on 127.0.0.1.
//
// Usage: node bench/loadgen.mjs '<json config>'   (normally started by `python -m bench`)
//
// The config names a mode (fanout, storm, many_docs, cold_write, cold_read) and its parameters.
// Progress events and the final result are JSON lines on stdout:
//   {"event": "...", ...}            progress; the orchestrator samples the server on some of them
//   {"event": "result", ...}         the last line, then the process exits 0
//   {"event": "error", "message"}    a fatal problem, then the process exits 2
// Where the orchestrator must act between phases the loadgen waits for a line on stdin
// ("continue" or "exit"). Diagnostics go to stderr. Every wait is bounded, and a global
// deadline ends the process whatever happens.

import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import readline from 'node:readline'

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import WebSocket from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

const MSG_SYNC = 0
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const MARK_START = 0x01
const MARK_SEP = 0x3a // ':'
const MARK_END = 0x02
const TEXT_NAME = 'bench'

// ---------------------------------------------------------------------------------------------
// Plumbing

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[loadgen ${(performance.now() / 1000).toFixed(3)}s] ${args.join(' ')}\n`)
}

function fail (message) {
  emit({ event: 'error', message })
  process.exit(2)
}

const now = () => performance.now()

// How a client's socket is opened: plain `ws` for y-websocket servers; main() swaps in a framing
// wrapper for a target that speaks another protocol on top of the Yjs messages (cfg.protocol).
let openSocket = (url, options) => new WebSocket(url, options)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const stdinLines = []
let stdinWaiter = null
let stdinClosed = false
const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  if (stdinWaiter) {
    const w = stdinWaiter
    stdinWaiter = null
    w(line.trim())
  } else {
    stdinLines.push(line.trim())
  }
})
rl.on('close', () => {
  stdinClosed = true
  if (stdinWaiter) {
    const w = stdinWaiter
    stdinWaiter = null
    w('exit')
  }
})

/** The next command line from the orchestrator ("exit" on EOF or after timeoutMs). */
function command (timeoutMs) {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift())
  if (stdinClosed) return Promise.resolve('exit')
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stdinWaiter = null
      resolve('exit')
    }, timeoutMs)
    stdinWaiter = (line) => {
      clearTimeout(timer)
      resolve(line)
    }
  })
}

/** Resolve when predicate() holds (checked every stepMs) or after timeoutMs; returns whether it held. */
async function until (predicate, timeoutMs, stepMs = 5) {
  const deadline = now() + timeoutMs
  while (!predicate()) {
    if (now() >= deadline) return false
    await sleep(stepMs)
  }
  return true
}

function mulberry32 (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function percentiles (values, count) {
  // values: typed array (sorted in place) holding `count` samples, in ms.
  if (count === 0) return { p50: null, p95: null, p99: null, max: null, mean: null }
  const v = values.subarray(0, count).sort()
  const at = (q) => v[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]
  let sum = 0
  for (let i = 0; i < count; i++) sum += v[i]
  const r = (x) => Math.round(x * 1000) / 1000
  return { p50: r(at(0.5)), p95: r(at(0.95)), p99: r(at(0.99)), max: r(v[count - 1]), mean: r(sum / count) }
}

/**
 * Event-loop lag of this process: a 5 ms timer records how late it fires. Lag adds directly to
 * the measured latencies, so a high p99 here means the load generator, not the server, was late.
 */
class LoopLag {
  constructor (periodMs = 5) {
    this.period = periodMs
    this.samples = new Float64Array(1 << 16)
    this.count = 0
    this.timer = null
  }

  start () {
    let last = now()
    this.timer = setInterval(() => {
      const t = now()
      if (this.count < this.samples.length) this.samples[this.count++] = Math.max(0, t - last - this.period)
      last = t
    }, this.period)
    return this
  }

  stop () {
    clearInterval(this.timer)
    const st = percentiles(this.samples, this.count)
    return { p50_ms: st.p50, p99_ms: st.p99, max_ms: st.max }
  }
}

function cpuSeconds (start) {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1e6
}

// ---------------------------------------------------------------------------------------------
// Protocol

function step1Frame (doc) {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_SYNC)
  syncProtocol.writeSyncStep1(enc, doc)
  return encoding.toUint8Array(enc)
}

function step2Frame (doc, stateVector) {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_SYNC)
  syncProtocol.writeSyncStep2(enc, doc, stateVector)
  return encoding.toUint8Array(enc)
}

function updateFrame (update) {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_SYNC)
  syncProtocol.writeUpdate(enc, update)
  return encoding.toUint8Array(enc)
}

/** {type, sub, payload} of a sync frame, {type} of any other frame, null if undecodable. */
function parseFrame (buf) {
  try {
    const dec = decoding.createDecoder(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    const type = decoding.readVarUint(dec)
    if (type !== MSG_SYNC) return { type }
    const sub = decoding.readVarUint(dec)
    const payload = decoding.readVarUint8Array(dec)
    return { type, sub, payload }
  } catch {
    return null
  }
}

/**
 * Call onMarker(client, seq) for every `\x01<client>:<seq>\x02` in buf. Markers are found in
 * raw frame bytes, so a frame carrying several (merged) updates yields all of them.
 */
function scanMarkers (buf, onMarker) {
  const len = buf.length
  let i = buf.indexOf(MARK_START)
  while (i !== -1) {
    let j = i + 1
    let client = 0
    let digits = 0
    while (j < len && buf[j] >= 48 && buf[j] <= 57 && digits < 9) {
      client = client * 10 + (buf[j] - 48)
      j++
      digits++
    }
    if (digits > 0 && j < len && buf[j] === MARK_SEP) {
      j++
      let seq = 0
      let sdigits = 0
      while (j < len && buf[j] >= 48 && buf[j] <= 57 && sdigits < 9) {
        seq = seq * 10 + (buf[j] - 48)
        j++
        sdigits++
      }
      if (sdigits > 0 && j < len && buf[j] === MARK_END) {
        onMarker(client, seq)
        i = buf.indexOf(MARK_START, j + 1)
        continue
      }
    }
    i = buf.indexOf(MARK_START, i + 1)
  }
}

/**
 * One y-websocket client. Keeps its own Y.Doc (local edits only: it never applies what it
 * receives unless `apply` is set) and reports frames through callbacks.
 */
class Client {
  constructor (url, { id = 0, onFrame = null, apply = false, onSynced = null, onClose = null } = {}) {
    this.id = id
    this.doc = new Y.Doc()
    this.text = this.doc.getText(TEXT_NAME)
    this.apply = apply
    this.onFrame = onFrame
    this.onSynced = onSynced
    this.onClose = onClose
    this.createdAt = now()
    this.openedAt = null
    this.syncedAt = null
    this.closedAt = null
    this.closeCode = null
    this.closeReason = ''
    this.error = null
    this.step2Bytes = 0
    this.framesIn = 0
    this.bytesIn = 0
    this.ws = openSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 })
    this.ws.binaryType = 'nodebuffer'
    this.doc.on('update', (update, origin) => {
      if (origin !== 'remote' && this.ws.readyState === WebSocket.OPEN) this.ws.send(updateFrame(update))
    })
    this.ws.on('open', () => {
      this.openedAt = now()
      this.ws.send(step1Frame(this.doc))
    })
    this.ws.on('message', (data) => this._message(data))
    this.ws.on('error', (err) => {
      if (this.error === null) this.error = String(err && err.message ? err.message : err)
    })
    this.ws.on('close', (code, reason) => {
      this.closedAt = now()
      this.closeCode = code
      this.closeReason = reason.toString()
      if (this.onClose) this.onClose(this)
    })
  }

  get open () {
    return this.ws.readyState === WebSocket.OPEN
  }

  _message (buf) {
    const t = now()
    this.framesIn++
    this.bytesIn += buf.length
    if (this.syncedAt === null || this.apply) {
      const frame = parseFrame(buf)
      if (frame !== null && frame.type === MSG_SYNC) {
        if (frame.sub === SYNC_STEP1) {
          // Answer the server's step 1 like y-websocket does (our doc holds only our own edits).
          this.ws.send(step2Frame(this.doc, frame.payload))
        } else if (frame.sub === SYNC_STEP2 && this.syncedAt === null) {
          this.step2Bytes = frame.payload.length
          this.step2Payload = frame.payload
          if (this.apply) Y.applyUpdate(this.doc, frame.payload, 'remote')
          this.syncedAt = t
          if (this.onSynced) this.onSynced(this, frame.payload)
        } else if (this.apply) {
          Y.applyUpdate(this.doc, frame.payload, 'remote')
        }
      }
    }
    if (this.onFrame) this.onFrame(this, buf, t)
  }

  close () {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.close(1000, 'bench done')
      } catch {
        this.ws.terminate()
      }
    }
  }

  terminate () {
    this.ws.terminate()
  }
}

const MSG_AWARENESS = 1

function awarenessFrame (clientId, clock, state) {
  const payload = encoding.createEncoder()
  encoding.writeVarUint(payload, 1)
  encoding.writeVarUint(payload, clientId)
  encoding.writeVarUint(payload, clock)
  encoding.writeVarString(payload, JSON.stringify(state))
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_AWARENESS)
  encoding.writeVarUint8Array(enc, encoding.toUint8Array(payload))
  return encoding.toUint8Array(enc)
}

/**
 * Two clients on a separate document: one sends an awareness update every `periodMs`, the
 * other times their arrival. Awareness is relayed without touching the database, so the
 * latency is the server's event-loop responsiveness while something else happens.
 */
class Bystander {
  constructor (base, name, periodMs = 5) {
    const url = docUrl(base, name)
    this.period = periodMs
    this.sent = new Map()
    this.latencies = new Float64Array(1 << 17)
    this.count = 0
    this.seq = 0
    this.timer = null
    this.recording = false
    this.sender = new Client(url)
    this.receiver = new Client(url, {
      onFrame: (c, buf, t) => {
        if (!this.recording || buf[0] !== MSG_AWARENESS) return
        try {
          const dec = decoding.createDecoder(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
          decoding.readVarUint(dec)
          const inner = decoding.createDecoder(decoding.readVarUint8Array(dec))
          const n = decoding.readVarUint(inner)
          for (let i = 0; i < n; i++) {
            decoding.readVarUint(inner)
            decoding.readVarUint(inner)
            const state = JSON.parse(decoding.readVarString(inner))
            const at = state && this.sent.get(state.seq)
            if (at !== undefined && this.count < this.latencies.length) {
              this.latencies[this.count++] = t - at
              this.sent.delete(state.seq)
            }
          }
        } catch {}
      },
    })
  }

  async start (timeoutMs) {
    const ok = await until(() => this.sender.syncedAt !== null && this.receiver.syncedAt !== null, timeoutMs)
    if (!ok) return false
    this.recording = true
    const id = this.sender.doc.clientID
    this.timer = setInterval(() => {
      if (!this.sender.open) return
      const seq = ++this.seq
      this.sent.set(seq, now())
      this.sender.ws.send(awarenessFrame(id, seq, { seq }))
    }, this.period)
    return true
  }

  async stop () {
    clearInterval(this.timer)
    await until(() => this.sent.size === 0, 2000, 5)
    this.recording = false
    const lost = this.sent.size
    const received = this.count
    let over50 = 0
    for (let i = 0; i < received; i++) if (this.latencies[i] > 50) over50++
    const st = percentiles(this.latencies, received)
    await closeAll([this.sender, this.receiver])
    return { sent: this.seq, received, lost, p50_ms: st.p50, p99_ms: st.p99, max_ms: st.max, over_50ms: over50 }
  }
}

function docUrl (base, name) {
  return `${base}/ws/${encodeURIComponent(name)}`
}

function closeSummary (clients) {
  const codes = {}
  const errors = {}
  for (const c of clients) {
    if (c.closeCode !== null && c.closeCode !== 1000 && c.closeCode !== 1005) {
      const key = `${c.closeCode}${c.closeReason ? ' ' + c.closeReason : ''}`
      codes[key] = (codes[key] || 0) + 1
    }
    if (c.error !== null) errors[c.error] = (errors[c.error] || 0) + 1
  }
  return { unexpected_closes: codes, errors }
}

async function closeAll (clients, timeoutMs = 10000) {
  for (const c of clients) c.close()
  const done = await until(() => clients.every((c) => c.closedAt !== null || c.ws.readyState === WebSocket.CLOSED), timeoutMs, 10)
  if (!done) for (const c of clients) if (c.ws.readyState !== WebSocket.CLOSED) c.terminate()
  return done
}

/** Random small edits: inserts of 1..4 letters at random places, some deletes of 1..3. */
function randomEdits (text, count, rand) {
  for (let k = 0; k < count; k++) {
    const len = text.length
    if (len > 16 && rand() < 0.1) {
      const n = 1 + Math.floor(rand() * 3)
      text.delete(Math.floor(rand() * (len - n)), n)
    } else {
      const n = 1 + Math.floor(rand() * 4)
      let s = ''
      for (let q = 0; q < n; q++) s += String.fromCharCode(97 + Math.floor(rand() * 26))
      text.insert(Math.floor(rand() * (len + 1)), s)
    }
  }
}

/**
 * Typing: a caret that mostly moves forward, sometimes jumps elsewhere (5%) and sometimes
 * deletes the character before it (3%): the shape of a real document's history, and the one
 * behind the reference figures (100k edits -> a few hundred KB of state).
 */
function typingEdits (text, count, rand, caret) {
  for (let k = 0; k < count; k++) {
    const len = text.length
    if (rand() < 0.05) caret.pos = Math.floor(rand() * (len + 1))
    caret.pos = Math.min(caret.pos, len)
    if (caret.pos > 0 && rand() < 0.03) {
      text.delete(caret.pos - 1, 1)
      caret.pos -= 1
    } else {
      text.insert(caret.pos, String.fromCharCode(97 + Math.floor(rand() * 26)))
      caret.pos += 1
    }
  }
}

/**
 * Write `updates` transactions of `editsPerUpdate` edits each, then prove they are durable.
 * The updates are generated first, in a separate Y.Doc, so that the timing covers the server
 * (receive, apply, append, commit) and not Yjs generating random edits.
 */
async function writeDocument (url, updates, editsPerUpdate, seed, timeoutMs, keepOpen = false, pattern = 'typing') {
  const gen = new Y.Doc()
  const genText = gen.getText(TEXT_NAME)
  const frames = []
  let updateBytes = 0
  gen.on('update', (u) => {
    updateBytes += u.length
    frames.push(updateFrame(u))
  })
  const rand = mulberry32(seed)
  const tGen = now()
  const caret = { pos: 0 }
  for (let u = 0; u < updates; u++) {
    gen.transact(() => pattern === 'random'
      ? randomEdits(genText, editsPerUpdate, rand)
      : typingEdits(genText, editsPerUpdate, rand, caret))
  }
  const generateS = (now() - tGen) / 1000

  const client = new Client(url)
  if (!(await until(() => client.syncedAt !== null || client.closedAt !== null, timeoutMs))) {
    fail('writer did not sync')
  }
  if (client.closedAt !== null) fail(`writer closed: ${client.closeCode} ${client.closeReason}`)
  const t0 = now()
  for (const frame of frames) {
    client.ws.send(frame)
    // Bounded local buffering: let the socket drain before queueing more than 4 MiB.
    if (client.ws.bufferedAmount > 4 * 1024 * 1024) {
      await until(() => client.ws.bufferedAmount < 1024 * 1024 || !client.open, timeoutMs, 1)
    }
    if (!client.open) fail(`writer closed while sending: ${client.closeCode} ${client.closeReason}`)
  }
  const tSent = now()
  // The server answers a step 1 only after everything appended before it has committed, and
  // this step 1 follows the last update on the same socket. Its state vector is the generator's,
  // so the answer is (nearly) empty.
  let writerRoundTrip = null
  client.onFrame = (c, buf) => {
    const f = parseFrame(buf)
    if (f && f.type === MSG_SYNC && f.sub === SYNC_STEP2) writerRoundTrip = now()
  }
  client.ws.send(step1Frame(gen))
  if (!(await until(() => writerRoundTrip !== null || client.closedAt !== null, timeoutMs))) {
    fail('writer step 1 got no step 2')
  }
  if (writerRoundTrip === null) fail(`writer closed: ${client.closeCode} ${client.closeReason}`)
  client.onFrame = null
  const text = genText.toString()
  const result = {
    updates,
    edits: updates * editsPerUpdate,
    update_bytes: updateBytes,
    generate_s: generateS,
    send_s: (tSent - t0) / 1000,
    durable_s: (writerRoundTrip - t0) / 1000,
    text_length: text.length,
    text_sha256: createHash('sha256').update(text).digest('hex'),
    ...closeSummary([client]),
  }
  if (!keepOpen) await closeAll([client])
  return { result, client }
}

/**
 * A fresh client syncs the document and checks that every edit that was sent is in it exactly
 * once (by its marker): the server relayed edits only after storing them, so none may be missing.
 */
async function verifyDocument (url, expectedEdits, timeoutMs) {
  const t0 = now()
  const client = new Client(url, { apply: true })
  await until(() => client.syncedAt !== null || client.closedAt !== null, timeoutMs, 5)
  if (client.syncedAt === null) {
    await closeAll([client])
    return { synced: false, close: `${client.closeCode} ${client.closeReason}`, error: client.error }
  }
  const text = client.text.toString()
  const seen = new Set()
  let duplicated = 0
  for (const m of text.matchAll(/\u0001(\d+):(\d+)\u0002/g)) {
    const key = `${m[1]}:${m[2]}`
    if (seen.has(key)) duplicated++
    else seen.add(key)
  }
  await closeAll([client])
  return {
    synced: true,
    sync_ms: Math.round((client.syncedAt - t0) * 1000) / 1000,
    step2_bytes: client.step2Bytes,
    edits_found: seen.size,
    edits_missing: Math.max(0, expectedEdits - seen.size),
    duplicated,
  }
}

// ---------------------------------------------------------------------------------------------
// Modes

async function fanout (cfg) {
  const n = cfg.clients
  const rate = cfg.rate
  const perClient = Math.max(1, Math.round(cfg.duration * rate))
  const interval = 1000 / rate
  const url = docUrl(cfg.url, cfg.doc)
  // Several instances of one deployment (bench/scaleout.py): client i connects to urls[i % k].
  const urls = (cfg.urls && cfg.urls.length ? cfg.urls : [cfg.url]).map((u) => docUrl(u, cfg.doc))
  const totalEdits = n * perClient
  const sendTime = new Float64Array(totalEdits).fill(-1)
  // Observers time every edit they receive; the other clients only read their sockets. They are
  // spread evenly over the clients (so over the order in which servers send to them).
  const stride = cfg.observers > 0 && cfg.observers < n ? n / cfg.observers : 1
  const observer = new Uint8Array(n)
  for (let k = 0; k * stride < n; k++) observer[Math.floor(k * stride)] = 1
  const observers = observer.reduce((a, b) => a + b, 0)
  const sentBy = new Uint32Array(n)
  const expectedMax = totalEdits * observers
  const latencies = new Float64Array(Math.max(1, expectedMax))
  const latencySecond = new Uint16Array(Math.max(1, expectedMax))
  let delivered = 0
  let echoes = 0
  let duplicates = 0
  let unknown = 0
  let measuring = false
  let tStart = 0
  const seen = []
  for (let i = 0; i < n; i++) seen.push(observer[i] ? new Uint8Array(totalEdits) : null)
  const pad = 'x'.repeat(cfg.pad)

  const onFrame = (client, buf, t) => {
    if (!measuring || !observer[client.id]) return
    const self = client.id
    const mine = seen[self]
    scanMarkers(buf, (c, s) => {
      if (c >= n || s >= perClient) { unknown++; return }
      const idx = c * perClient + s
      const sent = sendTime[idx]
      if (sent < 0) { unknown++; return }
      if (c === self) { echoes++; return }
      if (mine[idx]) { duplicates++; return }
      mine[idx] = 1
      latencies[delivered] = t - sent
      latencySecond[delivered] = Math.floor((sent - tStart) / 1000)
      delivered++
    })
  }

  const clients = []
  const tConnect = now()
  for (let i = 0; i < n; i++) clients.push(new Client(urls[i % urls.length], { id: i, onFrame }))
  await until(() => clients.every((c) => c.syncedAt !== null || c.closedAt !== null), cfg.syncTimeoutMs, 10)
  const synced = clients.filter((c) => c.syncedAt !== null && c.open)
  const syncS = (now() - tConnect) / 1000
  if (synced.length < n) log(`fanout: only ${synced.length}/${n} clients synced`)
  if (synced.length < 2) fail(`fanout: only ${synced.length}/${n} clients synced`)
  log(`fanout: ${n} clients synced in ${syncS.toFixed(2)}s, sending ${perClient} edits each`)

  const loop = new LoopLag().start()
  const cpu0 = process.cpuUsage()
  emit({ event: 'measure_start' })
  measuring = true
  tStart = now()
  let sentEdits = 0
  let skipped = 0
  let p = 0
  while (p < totalEdits) {
    const k = Math.floor(p / n)
    const i = p % n
    const due = tStart + k * interval + (i / n) * interval
    const wait = due - now()
    if (wait > 1) await sleep(wait - 0.5)
    const c = clients[i]
    if (c.syncedAt !== null && c.open) {
      sendTime[i * perClient + k] = now()
      c.text.insert(c.text.length, `\u0001${i}:${k}\u0002${pad}`)
      sentEdits++
      sentBy[i]++
    } else {
      skipped++
    }
    p++
  }
  const tSent = now()
  const alive = () => clients.filter((c) => c.syncedAt !== null && c.open).length
  const receivers = synced.length
  // Every observer that stayed synced gets every edit but its own.
  let expected = 0
  for (const c of synced) if (observer[c.id]) expected += sentEdits - sentBy[c.id]
  await until(() => delivered >= expected, cfg.stragglerMs, 5)
  const tEnd = now()
  measuring = false
  emit({ event: 'measure_end' })
  const lag = loop.stop()
  const loadgenCpu = cpuSeconds(cpu0)
  const windowS = (tEnd - tStart) / 1000

  const bySecond = []
  const seconds = Math.ceil(cfg.duration)
  for (let s = 0; s < seconds; s++) {
    let cnt = 0
    for (let q = 0; q < delivered; q++) if (latencySecond[q] === s) cnt++
    const arr = new Float64Array(cnt)
    let w = 0
    for (let q = 0; q < delivered; q++) if (latencySecond[q] === s) arr[w++] = latencies[q]
    const st = percentiles(arr, cnt)
    bySecond.push({ second: s, delivered: cnt, p50_ms: st.p50, p99_ms: st.p99 })
  }
  let framesIn = 0
  let bytesIn = 0
  for (const c of clients) { framesIn += c.framesIn; bytesIn += c.bytesIn }
  const stillOpen = alive()
  const summary = closeSummary(clients)
  const finalDoc = await verifyDocument(url, sentEdits, cfg.syncTimeoutMs)
  emit({ event: 'holding' })
  await command(cfg.stragglerMs + 60000)
  await closeAll(clients)
  return {
    clients: n,
    synced_clients: receivers,
    observers,
    clients_open_at_end: stillOpen,
    sync_s: syncS,
    edits_sent: sentEdits,
    edits_skipped: skipped,
    send_s: (tSent - tStart) / 1000,
    window_s: windowS,
    expected_deliveries: expected,
    delivered,
    delivered_pct: expected ? Math.round((delivered / expected) * 1e5) / 1e3 : null,
    latency_ms: percentiles(latencies, delivered),
    latency_by_send_second: bySecond,
    echoes,
    duplicates,
    unknown_markers: unknown,
    final_doc: finalDoc,
    frames_received: framesIn,
    bytes_received: bytesIn,
    loadgen_cpu_s: loadgenCpu,
    loadgen_cpu_pct: Math.round((loadgenCpu / windowS) * 1000) / 10,
    loadgen_loop_lag: lag,
    ...summary,
  }
}

async function storm (cfg) {
  const url = docUrl(cfg.url, cfg.doc)
  // The seeding client stays connected, so the room stays loaded during the storm.
  let seedInfo = null
  let seeder = null
  if (cfg.seedUpdates > 0) {
    const written = await writeDocument(url, cfg.seedUpdates, cfg.seedEdits, 7, cfg.timeoutMs, true)
    seedInfo = written.result
    seeder = written.client
  }
  emit({ event: 'seeded' })
  if ((await command(cfg.timeoutMs)) === 'exit') fail('told to exit before the storm')
  emit({ event: 'measure_start' })
  const cpu0 = process.cpuUsage()
  const loop = new LoopLag().start()
  const t0 = now()
  const clients = []
  for (let i = 0; i < cfg.clients; i++) clients.push(new Client(url, { id: i }))
  const tCreated = now()
  await until(() => clients.every((c) => c.syncedAt !== null || c.closedAt !== null), cfg.timeoutMs, 5)
  const tEnd = now()
  emit({ event: 'measure_end' })
  const lag = loop.stop()
  const synced = clients.filter((c) => c.syncedAt !== null)
  const syncMs = new Float64Array(synced.length)
  const openMs = new Float64Array(synced.length)
  const openToSyncMs = new Float64Array(synced.length)
  synced.forEach((c, i) => {
    syncMs[i] = c.syncedAt - c.createdAt
    openMs[i] = c.openedAt - c.createdAt
    openToSyncMs[i] = c.syncedAt - c.openedAt
  })
  const sizes = {}
  for (const c of synced) sizes[c.step2Bytes] = (sizes[c.step2Bytes] || 0) + 1
  const failures = clients.length - synced.length
  const pending = clients.filter((c) => c.syncedAt === null && c.closedAt === null).length
  const summary = closeSummary(clients)
  const lastSynced = synced.reduce((m, c) => Math.max(m, c.syncedAt), t0)
  // Hold every socket open until the orchestrator has sampled the server.
  emit({ event: 'holding' })
  await command(cfg.timeoutMs)
  await closeAll(seeder ? [...clients, seeder] : clients)
  return {
    clients: cfg.clients,
    seed: seedInfo,
    create_sockets_ms: tCreated - t0,
    all_synced: failures === 0,
    time_to_all_synced_s: failures === 0 ? (lastSynced - t0) / 1000 : null,
    time_to_last_synced_s: (lastSynced - t0) / 1000,
    waited_s: (tEnd - t0) / 1000,
    synced: synced.length,
    failures,
    still_pending_at_timeout: pending,
    per_client_sync_ms: percentiles(syncMs, syncMs.length),
    per_client_open_ms: percentiles(openMs, openMs.length),
    per_client_open_to_synced_ms: percentiles(openToSyncMs, openToSyncMs.length),
    step2_sizes: sizes,
    loadgen_cpu_s: cpuSeconds(cpu0),
    loadgen_loop_lag: lag,
    ...summary,
  }
}

async function manyDocs (cfg) {
  const results = []
  for (let round = 0; round < cfg.rounds; round++) {
    const pairs = []
    let donePairs = 0
    let failedPairs = 0
    const pairMs = new Float64Array(cfg.docs)
    const t0 = now()
    let next = 0
    let active = 0
    const startPair = (idx) => {
      active++
      const name = `${cfg.prefix} r${round} doc ${idx}`
      const url = docUrl(cfg.url, name)
      const pair = { idx, got: [false, false], done: false, t: now(), clients: [] }
      const finish = (ok) => {
        if (pair.done) return
        pair.done = true
        active--
        if (ok) { pairMs[donePairs] = now() - pair.t; donePairs++ } else failedPairs++
        launch()
      }
      const onFrame = (client, buf) => {
        scanMarkers(buf, (c, s) => {
          if (s === idx && c === 1 - client.id) pair.got[client.id] = true
        })
        if (pair.got[0] && pair.got[1]) finish(true)
      }
      const onSynced = () => {
        if (pair.clients.every((c) => c.syncedAt !== null)) {
          for (const c of pair.clients) c.text.insert(c.text.length, `\u0001${c.id}:${idx}\u0002 hello from ${c.id}`)
        }
      }
      const onClose = () => finish(false)
      pair.clients.push(new Client(url, { id: 0, onFrame, onSynced, onClose }))
      pair.clients.push(new Client(url, { id: 1, onFrame, onSynced, onClose }))
      pair.timer = setTimeout(() => finish(false), cfg.pairTimeoutMs)
      pairs.push(pair)
    }
    const launch = () => {
      while (active < cfg.concurrency && next < cfg.docs) startPair(next++)
    }
    launch()
    await until(() => donePairs + failedPairs >= cfg.docs, cfg.timeoutMs, 10)
    for (const pair of pairs) clearTimeout(pair.timer)
    const all = pairs.flatMap((p) => p.clients)
    const openSockets = all.filter((c) => c.open).length
    const info = {
      round,
      docs: cfg.docs,
      pairs_done: donePairs,
      pairs_failed: failedPairs,
      open_sockets: openSockets,
      all_synced_s: (now() - t0) / 1000,
      per_pair_ms: percentiles(pairMs, donePairs),
      ...closeSummary(all),
    }
    emit({ event: 'all_synced', round })
    if ((await command(cfg.timeoutMs)) === 'exit') { results.push(info); await closeAll(all); break }
    const tc = now()
    const closedCleanly = await closeAll(all)
    info.disconnect_s = (now() - tc) / 1000
    info.closed_cleanly = closedCleanly
    results.push(info)
    emit({ event: 'closed', round })
    if ((await command(cfg.timeoutMs)) === 'exit') break
  }
  return { rounds: results }
}

async function coldWrite (cfg) {
  const url = docUrl(cfg.url, cfg.doc)
  const { result } = await writeDocument(
    url, cfg.updates, cfg.editsPerUpdate, cfg.seed, cfg.timeoutMs, false, cfg.pattern || 'typing')
  return result
}

async function coldRead (cfg) {
  const url = docUrl(cfg.url, cfg.doc)
  if (cfg.untilContent) return coldReadUntilContent(cfg, url)
  let step2At = null
  let payload = null
  const t0 = now()
  const client = new Client(url, { onSynced: (c, p) => { step2At = now(); payload = p } })
  await until(() => step2At !== null || client.closedAt !== null, cfg.timeoutMs, 1)
  if (payload === null) fail(`cold read got no step 2 (${client.closeCode} ${client.closeReason} ${client.error})`)
  const ta = now()
  const doc = new Y.Doc()
  Y.applyUpdate(doc, payload)
  const text = doc.getText(TEXT_NAME).toString()
  const tApplied = now()
  if (cfg.payloadFile) writeFileSync(cfg.payloadFile, payload)
  const sha = createHash('sha256').update(text).digest('hex')
  await closeAll([client])
  return {
    open_ms: client.openedAt - t0,
    step2_received_ms: step2At - t0,
    apply_ms_yjs: tApplied - ta,
    fully_synced_ms: tApplied - t0,
    step2_bytes: payload.length,
    text_length: text.length,
    text_ok: text.length === cfg.expectLength && sha === cfg.expectSha256,
  }
}

/**
 * cold_read for servers that may answer step 1 before the stored document is loaded (the
 * y-websocket server binds its LevelDB state asynchronously and sends it later as an update):
 * applies step 2 and every update after it, and is fully synced when the text has the expected
 * length (then checked by SHA-256).
 */
async function coldReadUntilContent (cfg, url) {
  const doc = new Y.Doc()
  const text = doc.getText(TEXT_NAME)
  let step2At = null
  let step2Bytes = 0
  let contentAt = null
  let applyMs = 0
  let framesApplied = 0
  const t0 = now()
  const client = new Client(url, {
    onFrame: (c, buf) => {
      if (contentAt !== null) return
      const f = parseFrame(buf)
      if (f === null || f.type !== MSG_SYNC || f.sub === SYNC_STEP1) return
      if (f.sub === SYNC_STEP2 && step2At === null) { step2At = now(); step2Bytes = f.payload.length }
      const ta = now()
      Y.applyUpdate(doc, f.payload)
      applyMs += now() - ta
      framesApplied++
      if (step2At !== null && text.length === cfg.expectLength) contentAt = now()
    },
  })
  await until(() => contentAt !== null || client.closedAt !== null, cfg.timeoutMs, 1)
  if (contentAt === null) {
    fail(`cold read: text has ${text.length} of ${cfg.expectLength} characters after ${(now() - t0).toFixed(0)} ms ` +
      `(step 2 ${step2At === null ? 'not received' : 'received'}; ${client.closeCode} ${client.closeReason} ${client.error})`)
  }
  const content = text.toString()
  if (cfg.payloadFile) writeFileSync(cfg.payloadFile, Y.encodeStateAsUpdate(doc))
  const sha = createHash('sha256').update(content).digest('hex')
  await closeAll([client])
  return {
    open_ms: client.openedAt - t0,
    step2_received_ms: step2At - t0,
    apply_ms_yjs: applyMs,
    fully_synced_ms: contentAt - t0,
    step2_bytes: step2Bytes,
    content_after_step2: framesApplied > 1,
    frames_applied: framesApplied,
    text_length: content.length,
    text_ok: content.length === cfg.expectLength && sha === cfg.expectSha256,
  }
}

/** Runs a Bystander pair until told to stop (its own process, so the load generator's work does
 * not delay it). */
async function bystander (cfg) {
  const b = new Bystander(cfg.url, cfg.doc, cfg.periodMs || 5)
  if (!(await b.start(cfg.timeoutMs))) fail('bystander clients did not sync')
  emit({ event: 'ready' })
  await command(cfg.deadlineMs || 300000)
  return b.stop()
}

const MODES = {
  fanout,
  storm,
  many_docs: manyDocs,
  cold_write: coldWrite,
  cold_read: coldRead,
  bystander,
}

async function main () {
  let cfg
  try {
    cfg = JSON.parse(process.argv[2] || '')
  } catch {
    fail('usage: node loadgen.mjs \'{"mode": "...", "url": "ws://127.0.0.1:PORT", ...}\'')
  }
  if (!/^ws:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(cfg.url || '')) {
    fail(`refusing to load anything but a loopback address: ${cfg.url}`)
  }
  const mode = MODES[cfg.mode]
  if (!mode) fail(`unknown mode ${cfg.mode}`)
  if (cfg.protocol === 'hocuspocus') {
    const { hocuspocusSocketFactory } = await import('./peers/hocuspocus_framing.mjs')
    openSocket = hocuspocusSocketFactory(WebSocket)
  } else if (cfg.protocol !== undefined && cfg.protocol !== 'y-websocket') {
    fail(`unknown protocol ${cfg.protocol}`)
  }
  const deadline = setTimeout(() => fail(`global deadline of ${cfg.deadlineMs} ms passed`), cfg.deadlineMs || 300000)
  const result = await mode(cfg)
  clearTimeout(deadline)
  emit({ event: 'result', mode: cfg.mode, ...result })
  process.exit(0)
}

main().catch((err) => fail(String(err && err.stack ? err.stack : err)))
