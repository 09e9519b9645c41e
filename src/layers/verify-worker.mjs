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

// secp256k1 group order n / 2, big-endian: a compact signature whose s exceeds it is "high-S".
const HALF_ORDER = Uint8Array.from(
  Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex")
)

const isHighS = (sig) => {
  for (let i = 0; i < 32; i++) {
    const a = sig[32 + i]
    const b = HALF_ORDER[i]
    if (a !== b) return a > b
  }
  return false
}

// libsecp256k1 rejects high-S signatures; BOLT 7 does not require low-S and lnd (btcec) accepts both, so a
// failed high-S signature is normalised and checked once more. Malformed keys/signatures are invalid, not errors.
const verifyOne = (hash, sig, key) => {
  try {
    if (secp256k1.ecdsaVerify(sig, hash, key)) return true
    if (!isHighS(sig)) return false
    return secp256k1.ecdsaVerify(secp256k1.signatureNormalize(Uint8Array.from(sig)), hash, key)
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
    ) ? 1 : 0
  }
  parentPort.postMessage({ id, buf: out.buffer }, [out.buffer])
})
