// Signature-check worker thread for VerifyWorkerPool.ts. Plain JavaScript on purpose: it loads the same way under
// tsx, vitest and plain node (no TypeScript loader is inherited by worker threads).
//
// Request:  { id: number, buf: ArrayBuffer, count: number }  (buf transferred)
//   buf holds `count` packed items of ITEM_SIZE bytes: [32 hash][64 compact signature][33 compressed pubkey].
// Response: { id: number, buf: ArrayBuffer }  (transferred) — `count` bytes, 1 = valid, 0 = invalid.
import { parentPort } from "node:worker_threads"
import secp256k1 from "secp256k1"

const HASH = 32
const SIG = 64
const KEY = 33
const ITEM_SIZE = HASH + SIG + KEY

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
  const bytes = new Uint8Array(buf)
  const out = new Uint8Array(count)
  for (let i = 0, o = 0; i < count; i++, o += ITEM_SIZE) {
    out[i] = verifyOne(
        bytes.subarray(o, o + HASH),
        bytes.subarray(o + HASH, o + HASH + SIG),
        bytes.subarray(o + HASH + SIG, o + ITEM_SIZE)
      ) ?
      1 :
      0
  }
  parentPort.postMessage({ id, buf: out.buffer }, [out.buffer])
})
