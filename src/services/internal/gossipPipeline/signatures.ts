/**
 * Packing signatures for the SignatureVerifier: one round's (or one early check's) signatures back to back in one
 * buffer of `PACKED_ITEM_SIZE` items — hash 32 | signature 64 | key 33 — so a batch crosses to the worker threads
 * as a single transfer with no per-signature objects. Signatures and bitcoin keys are copied from the raw message:
 * what is verified is what was received (lnd#10835).
 */
import { announcementKeysAt, KEY, SIG, TYPE } from "../../../domain/RawGossip.js"
import { PACKED_ITEM_SIZE } from "../../SignatureVerifier.js"

/** Offset of the signature in a node_announcement / channel_update (the one signature follows the type). */
export const SINGLE_SIG_AT = TYPE

const EMPTY = new Uint8Array(0)

/**
 * `capacity`: the most signatures it will hold. The buffer is allocated at the first `put`: a signature round
 * usually finds every check already made by the batch's early check and packs nothing, and the two (zero-filled,
 * off-heap) buffers of ~0.5 MB per 2048-message batch it made anyway were ~80 MB of a sync's allocation (issue 18).
 */
export class SigPacker {
  private buf: Uint8Array = EMPTY
  count = 0
  constructor(private readonly capacity: number) {}
  /**
   * One signature: 64 bytes of `src` at `sigAt` (the raw message), checked against 33 bytes of `keySrc` at
   * `keyAt`. Offsets come from messages the rules found well formed.
   */
  put(hash: Uint8Array, src: Uint8Array, sigAt: number, keySrc: Uint8Array, keyAt: number): void {
    if (this.buf === EMPTY) this.buf = new Uint8Array(this.capacity * PACKED_ITEM_SIZE)
    const buf = this.buf
    const o = this.count * PACKED_ITEM_SIZE
    buf.set(hash, o)
    for (let i = 0; i < SIG; i++) buf[o + 32 + i] = src[sigAt + i]
    for (let i = 0; i < KEY; i++) buf[o + 32 + SIG + i] = keySrc[keyAt + i]
    this.count += 1
  }
  /** The four signatures of a channel_announcement (BOLT 7: node 1, node 2, bitcoin 1, bitcoin 2, over one hash). */
  putAnnouncement(hash: Uint8Array, raw: Uint8Array): void {
    const keysAt = announcementKeysAt(raw)
    for (let k = 0; k < 4; k++) this.put(hash, raw, TYPE + SIG * k, raw, keysAt + KEY * k)
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.count * PACKED_ITEM_SIZE)
  }
}
