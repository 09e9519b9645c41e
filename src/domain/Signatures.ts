/**
 * BOLT 7 gossip signatures over the raw bytes received (never a re-encoding: lnd#10835).
 *
 * The signed data is the double SHA-256 of the message from the field after the signature(s) to its end, trailing
 * bytes included: after the 4 signatures of `channel_announcement`, after the 1 signature of `node_announcement`
 * and `channel_update`. Verification uses native libsecp256k1, whose `secp256k1_ecdsa_verify` accepts only
 * lower-S signatures: a high-S (malleated) signature fails, as in lnd (btcec) and Core Lightning. libsecp256k1
 * signing always produces low-S, so everything we sign verifies.
 */
import { hash as oneShotHash } from "node:crypto"
import secp256k1 from "secp256k1"
import { encodeAddresses } from "./Addresses.js"
import { encodeMessage } from "./Codec.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, PublicKey, Signature } from "./Messages.js"
import type { SignedKind } from "./RawGossip.js"
import { KEY, SIG, signedOffset, TYPE } from "./RawGossip.js"

export type { SignedKind } from "./RawGossip.js"

/** One-shot `crypto.hash` (Node >= 20.12): about half the cost of createHash().update().digest() per call. */
const sha256 = (data: Uint8Array): Buffer => oneShotHash("sha256", data, "buffer")

/**
 * BOLT 7 signed-data hash: SHA-256(SHA-256(raw[signedOffset..])). `raw` is a decoded message's `raw`, as received
 * (trailing bytes included, never a re-encoding: lnd#10835). The one hash of the project: the pipeline's hot path
 * calls it once per message.
 */
export const signedHash = (kind: SignedKind, raw: Uint8Array): Uint8Array => {
  const d = sha256(sha256(raw.subarray(signedOffset(kind))))
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

/**
 * `signedHash` for the many messages of one batch, without a new ArrayBuffer per message: both digests come back
 * from node's one-shot `crypto.hash` as 32-character latin1 strings (plain V8 heap objects, one byte per character)
 * and are written into a scratch buffer (the inner one) and a shared slab (the result), so a hash is a 32-byte view
 * of the slab. About half the CPU of `signedHash` and none of its two backing stores per message, which the GC
 * tracks and frees one by one (issue 18: signedHash was 123 MB of a sync's 1.69 GB of allocation). The slab stays
 * alive while any hash from it does: one per batch.
 */
export class SignedHasher {
  private readonly scratch = Buffer.allocUnsafeSlow(32)
  private slab: Buffer
  private at = 0
  /** `capacity`: how many hashes the first slab holds (more get further slabs). */
  constructor(capacity: number) {
    this.slab = Buffer.allocUnsafeSlow(32 * Math.max(1, capacity))
  }
  hash(kind: SignedKind, raw: Uint8Array): Uint8Array {
    if (this.at + 32 > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(this.slab.length)
      this.at = 0
    }
    this.scratch.write(oneShotHash("sha256", raw.subarray(signedOffset(kind)), "binary"), 0, 32, "latin1")
    const at = this.at
    this.slab.write(oneShotHash("sha256", this.scratch, "binary"), at, 32, "latin1")
    this.at = at + 32
    return this.slab.subarray(at, at + 32)
  }
}

/**
 * One ECDSA check (64-byte compact sig, 32-byte hash, 33-byte compressed key). Unparsable keys or signatures
 * (off-curve point, r or s not below the group order) are not valid signatures: false, not an exception.
 */
export const verifySignature = (hash: Uint8Array, sig: Signature, pubkey: PublicKey): boolean => {
  if (hash.length !== 32 || sig.length !== SIG || pubkey.length !== KEY) return false
  try {
    return secp256k1.ecdsaVerify(sig, hash, pubkey)
  } catch {
    // the binding throws "could not be parsed" for such inputs; that is exactly "invalid"
    return false
  }
}

export type ChannelAnnouncementSignature =
  | "nodeSignature1"
  | "nodeSignature2"
  | "bitcoinSignature1"
  | "bitcoinSignature2"

/** `ok` iff all four signatures verify; `failed` names the ones that did not (in wire order). */
export interface ChannelAnnouncementCheck {
  readonly ok: boolean
  readonly failed: ReadonlyArray<ChannelAnnouncementSignature>
}

/** BOLT 7: node_signature_1/2 by node_id_1/2 and bitcoin_signature_1/2 by bitcoin_key_1/2, all over one hash. */
export const verifyChannelAnnouncement = (ann: ChannelAnnouncement): ChannelAnnouncementCheck => {
  const hash = signedHash("ChannelAnnouncement", ann.raw)
  const failed: Array<ChannelAnnouncementSignature> = []
  if (!verifySignature(hash, ann.nodeSignature1, ann.nodeId1)) failed.push("nodeSignature1")
  if (!verifySignature(hash, ann.nodeSignature2, ann.nodeId2)) failed.push("nodeSignature2")
  if (!verifySignature(hash, ann.bitcoinSignature1, ann.bitcoinKey1)) failed.push("bitcoinSignature1")
  if (!verifySignature(hash, ann.bitcoinSignature2, ann.bitcoinKey2)) failed.push("bitcoinSignature2")
  return { ok: failed.length === 0, failed }
}

export const verifyNodeAnnouncement = (na: NodeAnnouncement): boolean =>
  verifySignature(signedHash("NodeAnnouncement", na.raw), na.signature, na.nodeId)

/** `signerNodeId`: the announcement's node_id_1 when channel_flags bit 0 (direction) is 0, node_id_2 when 1. */
export const verifyChannelUpdate = (update: ChannelUpdate, signerNodeId: PublicKey): boolean =>
  verifySignature(signedHash("ChannelUpdate", update.raw), update.signature, signerNodeId)

// ---------------------------------------------------------------------------------------------------------------
// Signing (tests, demo, load generator)

export const publicKeyOf = (privateKey: Uint8Array): PublicKey => secp256k1.publicKeyCreate(privateKey, true)

const sign = (hash: Uint8Array, privateKey: Uint8Array): Signature => secp256k1.ecdsaSign(hash, privateKey).signature

const ZERO_SIG: Signature = new Uint8Array(SIG)
const EMPTY = new Uint8Array(0)

export type ChannelAnnouncementFields =
  & Omit<
    ChannelAnnouncement,
    "_tag" | "nodeSignature1" | "nodeSignature2" | "bitcoinSignature1" | "bitcoinSignature2" | "trailing" | "raw"
  >
  & { readonly trailing?: Uint8Array }

/**
 * Encodes and signs a channel_announcement with the four keys in field order (the caller keeps node_id_1 <
 * node_id_2 as BOLT 7 requires, or deliberately does not in a test). Keys that do not match the announced public
 * keys give a message whose signatures fail, which tests rely on.
 */
export const signChannelAnnouncement = (
  fields: ChannelAnnouncementFields,
  nodeKey1: Uint8Array,
  nodeKey2: Uint8Array,
  bitcoinKey1: Uint8Array,
  bitcoinKey2: Uint8Array
): ChannelAnnouncement => {
  const unsigned: ChannelAnnouncement = {
    _tag: "ChannelAnnouncement",
    ...fields,
    nodeSignature1: ZERO_SIG,
    nodeSignature2: ZERO_SIG,
    bitcoinSignature1: ZERO_SIG,
    bitcoinSignature2: ZERO_SIG,
    trailing: fields.trailing ?? EMPTY,
    raw: EMPTY
  }
  const raw = encodeMessage(unsigned)
  const hash = signedHash("ChannelAnnouncement", raw)
  const keys = [nodeKey1, nodeKey2, bitcoinKey1, bitcoinKey2]
  keys.forEach((key, i) => raw.set(sign(hash, key), TYPE + i * SIG))
  return {
    ...unsigned,
    nodeSignature1: raw.slice(TYPE, TYPE + SIG),
    nodeSignature2: raw.slice(TYPE + SIG, TYPE + 2 * SIG),
    bitcoinSignature1: raw.slice(TYPE + 2 * SIG, TYPE + 3 * SIG),
    bitcoinSignature2: raw.slice(TYPE + 3 * SIG, TYPE + 4 * SIG),
    raw
  }
}

export type NodeAnnouncementFields =
  & Omit<NodeAnnouncement, "_tag" | "signature" | "addressBytes" | "trailing" | "raw">
  & {
    readonly trailing?: Uint8Array
  }

/** Encodes (addresses from `fields.addresses`) and signs a node_announcement with `nodeKey`. */
export const signNodeAnnouncement = (fields: NodeAnnouncementFields, nodeKey: Uint8Array): NodeAnnouncement => {
  const unsigned: NodeAnnouncement = {
    _tag: "NodeAnnouncement",
    ...fields,
    signature: ZERO_SIG,
    addressBytes: encodeAddresses(fields.addresses),
    trailing: fields.trailing ?? EMPTY,
    raw: EMPTY
  }
  const raw = encodeMessage(unsigned)
  raw.set(sign(signedHash("NodeAnnouncement", raw), nodeKey), TYPE)
  return { ...unsigned, signature: raw.slice(TYPE, TYPE + SIG), raw }
}

export type ChannelUpdateFields = Omit<ChannelUpdate, "_tag" | "signature" | "trailing" | "raw"> & {
  readonly trailing?: Uint8Array
}

/** Encodes and signs a channel_update with `nodeKey` (the key of the node its direction bit names). */
export const signChannelUpdate = (fields: ChannelUpdateFields, nodeKey: Uint8Array): ChannelUpdate => {
  const unsigned: ChannelUpdate = {
    _tag: "ChannelUpdate",
    ...fields,
    signature: ZERO_SIG,
    trailing: fields.trailing ?? EMPTY,
    raw: EMPTY
  }
  const raw = encodeMessage(unsigned)
  raw.set(sign(signedHash("ChannelUpdate", raw), nodeKey), TYPE)
  return { ...unsigned, signature: raw.slice(TYPE, TYPE + SIG), raw }
}
