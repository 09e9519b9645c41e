// Signature-check worker thread for VerifyWorkerPool.ts. Plain JavaScript on purpose: it loads the same way under
// tsx, vitest and plain node (no TypeScript loader is inherited by worker threads).
//
// Request:  { id: number, buf: ArrayBuffer, count: number }  (buf transferred)
//   buf holds `count` packed items of ITEM_SIZE bytes: [32 hash][64 compact signature][33 compressed pubkey].
// Response: { id: number, buf: ArrayBuffer }  (transferred) — `count` bytes, 1 = valid, 0 = invalid.
import { parentPort, workerData } from "node:worker_threads"
import secp256k1 from "secp256k1"

const HASH = 32
const SIG = 64
const KEY = 33
const ITEM_SIZE = HASH + SIG + KEY

// Uncompressed node keys, by their compressed bytes. Verifying against a 33-byte key makes libsecp256k1 decompress
// it first (a field square root, ~4 µs of a ~44 µs check, measured); a node's key signs every announcement and
// update it makes (a mainnet sync: ~233k of ~341k signatures by ~17k node keys), so a key seen twice is decompressed
// once and kept. Keys seen once (the bitcoin keys of channel_announcement) are only remembered as seen. Bounded:
// at `workerData.keyCacheSize` entries the cache starts over. `workerData.keyCache === false` turns it off: the raw ecdsaVerify the
// benches' signature floor measures.
const MAX_KEYS = workerData?.keyCacheSize ?? 32768
const FULL = 65
const cacheKeys = workerData?.keyCache !== false
/** latin1 of a compressed key → its slot in `slab`, or -1 when seen once. */
const slots = new Map()
const slab = new Uint8Array(cacheKeys ? MAX_KEYS * FULL : 0) // ~2 MB, only where keys are cached
let used = 0
const full = new Uint8Array(FULL)

/** The key to verify against: its uncompressed form when cached (copied into `full`), else the bytes as given. */
const keyFor = (chunk, at) => {
  const id = chunk.latin1Slice(at, at + KEY)
  const slot = slots.get(id)
  if (slot === undefined) {
    if (slots.size >= MAX_KEYS) {
      slots.clear()
      used = 0
    }
    slots.set(id, -1)
    return chunk.subarray(at, at + KEY)
  }
  if (slot < 0) {
    let converted
    try {
      converted = secp256k1.publicKeyConvert(chunk.subarray(at, at + KEY), false)
    } catch {
      return chunk.subarray(at, at + KEY) // not a point: ecdsaVerify rejects it as before
    }
    slab.set(converted, used * FULL)
    slots.set(id, used++)
    return converted
  }
  full.set(slab.subarray(slot * FULL, slot * FULL + FULL))
  return full
}

// Same semantics as Signatures.verifySignature: libsecp256k1 accepts only low-S signatures (as Core Lightning
// does); malformed keys or signatures are invalid, not errors.
const verifyOne = (hash, sig, key) => {
  try {
    return secp256k1.ecdsaVerify(sig, hash, key)
  } catch {
    return false
  }
}

parentPort.on("message", (request) => {
  const { id, buf, count } = request
  const bytes = Buffer.from(buf)
  const out = new Uint8Array(count)
  for (let i = 0, o = 0; i < count; i++, o += ITEM_SIZE) {
    const k = o + HASH + SIG
    out[i] = verifyOne(
        bytes.subarray(o, o + HASH),
        bytes.subarray(o + HASH, k),
        cacheKeys ? keyFor(bytes, k) : bytes.subarray(k, k + KEY)
      ) ?
      1 :
      0
  }
  parentPort.postMessage({ id, buf: out.buffer }, [out.buffer])
})
