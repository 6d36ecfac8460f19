// Prints, as JSON, every "client,clock" of a full document update that Yjs shows: the item and
// each type above it are undeleted, and a map value is its key's current one (of a value
// spanning several clocks, only the last is read). The fuzz oracle's `yupdate.units` must hide
// exactly the rest.
import * as Y from 'yjs'
import fs from 'fs'

const doc = new Y.Doc({ gc: false })
Y.applyUpdate(doc, fs.readFileSync(process.argv[2]))
const shown = (item) => {
  for (let it = item; it; it = it.parent._item) {
    if (it.deleted) return false
    if (it.parentSub !== null && it.parent._map.get(it.parentSub) !== it) return false
  }
  return true
}
const out = []
for (const [client, structs] of doc.store.clients) {
  for (const s of structs) {
    if (!(s instanceof Y.Item) || !shown(s)) continue
    for (let i = s.parentSub === null ? 0 : s.length - 1; i < s.length; i++) {
      out.push(`${client},${s.id.clock + i}`)
    }
  }
}
console.log(JSON.stringify(out))
