/**
 * SignatureVerifier: batch secp256k1 ECDSA checks. The gossip pipeline's hot path; the live layer spreads a batch
 * over one worker thread per core (`src/layers/VerifyWorkerPool.ts`), an in-thread layer serves tests and small runs.
 */
import type { Effect } from "effect"
import { Context } from "effect"

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
   * The same over `count` items already packed back to back as [32 hash][64 signature][33 key] (`ITEM_SIZE` =
   * 129 bytes each): no per-item objects on the hot path. One byte per item, 1 = valid. `packed` is not modified.
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
