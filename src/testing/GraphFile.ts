/**
 * Raw gossip on disk: `u32 big-endian length || wire message`, repeated. Benches and the demo write a generated
 * graph once and read it back, so they measure syncing, not signing.
 */
import * as fs from "node:fs"

export const writeGraphFile = (file: string, messages: Iterable<Uint8Array>): void => {
  const parts: Array<Uint8Array> = []
  for (const m of messages) {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(m.length)
    parts.push(len, m)
  }
  fs.writeFileSync(file, Buffer.concat(parts))
}

/** Reads the messages back (views into one buffer). Throws on a truncated file: it is our own output. */
export const readGraphFile = (file: string): Array<Uint8Array> => {
  const buf = fs.readFileSync(file)
  const out: Array<Uint8Array> = []
  let pos = 0
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error(`${file}: truncated length at ${pos}`)
    const len = buf.readUInt32BE(pos)
    if (pos + 4 + len > buf.length) throw new Error(`${file}: truncated message at ${pos}`)
    out.push(new Uint8Array(buf.buffer, buf.byteOffset + pos + 4, len))
    pos += 4 + len
  }
  return out
}
