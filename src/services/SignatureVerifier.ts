/**
 * SignatureVerifier: batch secp256k1 ECDSA checks. The gossip pipeline's hot path; the node's default layer spreads a
 * batch over one worker thread per core (`VerifyWorkerPool.layer`, src/layers/verify/), `layerInThread` here serves
 * tests and small runs (and is what the pool falls back to).
 */
import { Context, Effect, Layer } from "effect"
import secp256k1 from "secp256k1"

/** One signature to check: the 32-byte message hash, the 64-byte compact (r || s) signature, the 33-byte key. */
export interface VerifyItem {
  readonly hash: Uint8Array
  readonly sig: Uint8Array
  readonly pubkey: Uint8Array
}

export interface SignatureVerifierService {
  /**
   * One boolean per item, in order. A malformed key or signature is `false`, never a failure: the input is
   * untrusted peer data, and the verdict is all the caller needs.
   */
  readonly verifyBatch: (items: ReadonlyArray<VerifyItem>) => Effect.Effect<ReadonlyArray<boolean>>
  /**
   * The same over `count` items already packed back to back as [32 hash][64 signature][33 key] (`PACKED_ITEM_SIZE`
   * = 129 bytes each): no per-item objects on the hot path. One byte per item, 1 = valid. `packed` is not modified.
   */
  readonly verifyPacked: (packed: Uint8Array, count: number) => Effect.Effect<Uint8Array>
  /** How many threads share the work (1 for the in-thread verifier). */
  readonly parallelism: number
}

/** Bytes per packed item: 32-byte hash, 64-byte compact signature, 33-byte compressed key. */
export const PACKED_ITEM_SIZE = 129

export class SignatureVerifier extends Context.Tag("lnsync/SignatureVerifier")<
  SignatureVerifier,
  SignatureVerifierService
>() {}

const HASH = 32
const SIG = 64
const KEY = 33

/**
 * One check on the calling thread, the same the pool's workers run (same semantics as `Signatures.verifySignature`:
 * libsecp256k1 accepts low-S signatures only; malformed keys or signatures are `false`).
 */
export const verifyInThread = (hash: Uint8Array, sig: Uint8Array, pubkey: Uint8Array): boolean => {
  if (hash.length !== HASH || sig.length !== SIG || pubkey.length !== KEY) return false
  try {
    return secp256k1.ecdsaVerify(sig, hash, pubkey)
  } catch {
    return false
  }
}

/** Packs items into the `verifyPacked` layout. Wrong-sized fields are left zero (and then fail). */
export const pack = (items: ReadonlyArray<VerifyItem>): Uint8Array => {
  const bytes = new Uint8Array(items.length * PACKED_ITEM_SIZE)
  for (let i = 0, o = 0; i < items.length; i++, o += PACKED_ITEM_SIZE) {
    const it = items[i]
    if (it.hash.length === HASH && it.sig.length === SIG && it.pubkey.length === KEY) {
      bytes.set(it.hash, o)
      bytes.set(it.sig, o + HASH)
      bytes.set(it.pubkey, o + HASH + SIG)
    }
  }
  return bytes
}

/** Checks packed items `[start, end)` on this thread into `out` (1 = valid). */
export const verifyPackedInThread = (packed: Uint8Array, start: number, end: number, out: Uint8Array): void => {
  for (let i = start, o = start * PACKED_ITEM_SIZE; i < end; i++, o += PACKED_ITEM_SIZE) {
    out[i] = verifyInThread(
        packed.subarray(o, o + HASH),
        packed.subarray(o + HASH, o + HASH + SIG),
        packed.subarray(o + HASH + SIG, o + PACKED_ITEM_SIZE)
      )
      ? 1
      : 0
  }
}

/** The in-thread verifier: same results as the worker pool, no threads. */
export const makeInThread = (): SignatureVerifierService => ({
  parallelism: 1,
  verifyBatch: (items) => Effect.sync(() => items.map((it) => verifyInThread(it.hash, it.sig, it.pubkey))),
  verifyPacked: (packed, count) =>
    Effect.sync(() => {
      const out = new Uint8Array(count)
      verifyPackedInThread(packed, 0, count, out)
      return out
    })
})

export const layerInThread: Layer.Layer<SignatureVerifier> = Layer.sync(SignatureVerifier, makeInThread)
