/**
 * Gossip values for store tests, laid out by hand as BOLT 7 wire messages (the store never decodes or verifies:
 * signatures are filler, but the layout is right so that `raw` is a plausible message and the channel_update
 * checksum covers the real fields).
 */
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, PublicKey } from "../../src/domain/Messages.js"
import type { ShortChannelId } from "../../src/domain/ShortChannelId.js"
import * as Scid from "../../src/domain/ShortChannelId.js"

/** Bitcoin mainnet chain hash as it appears on the wire. */
export const CHAIN = new Uint8Array(
  Buffer.from("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000", "hex")
)

/** A deterministic 33-byte compressed-key-shaped node id. */
export const nodeId = (i: number): PublicKey => {
  const key = new Uint8Array(33)
  key[0] = 0x02 + (i & 1)
  new DataView(key.buffer).setUint32(1, i >>> 0, false)
  for (let k = 5; k < 33; k++) key[k] = (i * 31 + k * 7) & 0xff
  return key
}

class Writer {
  private readonly parts: Array<Uint8Array> = []
  u8(v: number) {
    this.parts.push(Uint8Array.of(v & 0xff))
    return this
  }
  u16(v: number) {
    const b = new Uint8Array(2)
    new DataView(b.buffer).setUint16(0, v, false)
    this.parts.push(b)
    return this
  }
  u32(v: number) {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v >>> 0, false)
    this.parts.push(b)
    return this
  }
  u64(v: bigint) {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, v, false)
    this.parts.push(b)
    return this
  }
  bytes(b: Uint8Array) {
    this.parts.push(b)
    return this
  }
  done(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts))
  }
}

const filler = (len: number, seed: number): Uint8Array => {
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = (seed * 131 + i * 17 + 1) & 0xff
  return b
}

export const channelAnnouncement = (
  scid: ShortChannelId,
  node1: PublicKey,
  node2: PublicKey
): ChannelAnnouncement => {
  const seed = Number(scid & 0xffffn)
  const sigs = [0, 1, 2, 3].map((k) => filler(64, seed + k))
  const features = new Uint8Array(0)
  const bitcoinKey1 = filler(33, seed + 10)
  const bitcoinKey2 = filler(33, seed + 11)
  const raw = new Writer()
    .u16(256)
    .bytes(sigs[0])
    .bytes(sigs[1])
    .bytes(sigs[2])
    .bytes(sigs[3])
    .u16(features.length)
    .bytes(features)
    .bytes(CHAIN)
    .u64(scid)
    .bytes(node1)
    .bytes(node2)
    .bytes(bitcoinKey1)
    .bytes(bitcoinKey2)
    .done()
  return {
    _tag: "ChannelAnnouncement",
    nodeSignature1: sigs[0],
    nodeSignature2: sigs[1],
    bitcoinSignature1: sigs[2],
    bitcoinSignature2: sigs[3],
    features,
    chainHash: CHAIN,
    shortChannelId: scid,
    nodeId1: node1,
    nodeId2: node2,
    bitcoinKey1,
    bitcoinKey2,
    trailing: new Uint8Array(0),
    raw
  }
}

export interface UpdateFields {
  readonly feeBaseMsat?: number
  readonly disabled?: boolean
}

/** A channel_update for `direction` (channel_flags bit 0) with `htlc_maximum_msat` (message_flags bit 0). */
export const channelUpdate = (
  scid: ShortChannelId,
  direction: 0 | 1,
  timestamp: number,
  fields: UpdateFields = {}
): ChannelUpdate => {
  const signature = filler(64, timestamp)
  const channelFlags = direction | (fields.disabled === true ? 2 : 0)
  const feeBaseMsat = fields.feeBaseMsat ?? 1000
  const raw = new Writer()
    .u16(258)
    .bytes(signature)
    .bytes(CHAIN)
    .u64(scid)
    .u32(timestamp)
    .u8(1)
    .u8(channelFlags)
    .u16(144)
    .u64(1000n)
    .u32(feeBaseMsat)
    .u32(100)
    .u64(990_000_000n)
    .done()
  return {
    _tag: "ChannelUpdate",
    signature,
    chainHash: CHAIN,
    shortChannelId: scid,
    timestamp,
    messageFlags: 1,
    channelFlags,
    cltvExpiryDelta: 144,
    htlcMinimumMsat: 1000n,
    feeBaseMsat,
    feeProportionalMillionths: 100,
    htlcMaximumMsat: 990_000_000n,
    trailing: new Uint8Array(0),
    raw
  }
}

export const nodeAnnouncement = (node: PublicKey, timestamp: number, alias = "node"): NodeAnnouncement => {
  const signature = filler(64, timestamp + 7)
  const features = new Uint8Array(0)
  const rgbColor = Uint8Array.of(1, 2, 3)
  const aliasBytes = new Uint8Array(32)
  aliasBytes.set(new TextEncoder().encode(alias).subarray(0, 32))
  const addressBytes = new Uint8Array(0)
  const raw = new Writer()
    .u16(257)
    .bytes(signature)
    .u16(features.length)
    .bytes(features)
    .u32(timestamp)
    .bytes(node)
    .bytes(rgbColor)
    .bytes(aliasBytes)
    .u16(addressBytes.length)
    .bytes(addressBytes)
    .done()
  return {
    _tag: "NodeAnnouncement",
    signature,
    features,
    timestamp,
    nodeId: node,
    rgbColor,
    alias: aliasBytes,
    addressBytes,
    addresses: [],
    trailing: new Uint8Array(0),
    raw
  }
}

/** Scid for (block, tx, out) — re-exported so tests read `scid(700000, 1, 0)`. */
export const scid = Scid.make
