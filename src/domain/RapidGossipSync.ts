/**
 * Rapid Gossip Sync snapshots: the compact graph format LDK wallets download instead of syncing gossip
 * (`lightning-rapid-gossip-sync`, as `rapid-gossip-sync-server` writes it). Pure: plain values in, bytes out.
 *
 * Layout (integers big-endian, BigSize as in BOLT 1):
 *
 *   "LDK" | version u8 (1 or 2) | chain_hash 32 | latest_seen_timestamp u32
 *   v2: default_node_features_count u8 | that many features (u16 length + bytes)
 *   node_id_count u32 | node ids (33 bytes each; v2: the first byte carries node-detail flags, see below)
 *   announcement_count u32 | per announcement, ascending scid:
 *       features (u16 length + bytes) | scid delta BigSize | node index 1 BigSize | node index 2 BigSize
 *       (v2: bit 63 of index 2 announces extra data — a funding amount; we hold none, so it is never set)
 *   update_count u32 | if any: defaults cltv u16, htlc_min u64, fee_base u32, fee_prop u32, htlc_max u64
 *   per update, ascending (scid, direction): scid delta BigSize (restarting from 0) | flags u8 | the fields the
 *       flags name, in the order cltv, htlc_min, fee_base, fee_prop, htlc_max
 *
 * Update flags: bits 0-1 are `channel_flags` (direction, disabled); bit 7 marks an incremental update (the fields
 * given replace the client's stored ones) and bits 6..2 say which fields follow (cltv, htlc_min, fee_base, fee_prop,
 * htlc_max). A full update gives every field that differs from the snapshot's defaults — the most common value of
 * each field among its full updates ("default-value compression"). The client stamps every update and partial
 * announcement with `latest_seen_timestamp` minus a week, so a newer snapshot must carry a larger timestamp.
 *
 * v2 node ids: first byte bits 0-1 are the key's parity prefix (2/3); bit 2: an address list follows (count u8,
 * then per address a u8 length and the BOLT 7 descriptor); bits 3-5: 1..6 picks a default feature set, 7 means the
 * features follow (u16 length + bytes), 0 no change; bit 6: reminder; bit 7: extra data (never set here).
 */
import * as BigSize from "./BigSize.js"
import { sameBytes } from "./Bytes.js"
import type { ChainHash, ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, PublicKey } from "./Messages.js"
import { encodeAddresses } from "./Addresses.js"
import { toHex } from "./Hex.js"
import type { ShortChannelId } from "./ShortChannelId.js"

/** "LDK": the format's magic prefix. */
export const PREFIX: ReadonlyArray<number> = [76, 68, 75]

export type Version = 1 | 2

/** LDK's server publishes snapshots (and accepts `last_sync_timestamp`s) on this grid: three hours. */
export const SNAPSHOT_INTERVAL_SECONDS = 3 * 3600

/** The most sats a channel could hold, in msat (LDK's MAX_VALUE_MSAT): LDK drops updates with a larger htlc max. */
export const MAX_VALUE_MSAT = 21_000_000n * 100_000_000n * 1000n

/** At most this many default node feature sets (LDK's server: NODE_DEFAULT_FEATURE_COUNT; 3 bits, 7 = inline). */
export const MAX_DEFAULT_NODE_FEATURES = 6

/** A channel as the snapshot carries it: no signatures, no bitcoin keys. */
export interface RgsChannel {
  readonly shortChannelId: ShortChannelId
  readonly features: Uint8Array
  readonly nodeId1: PublicKey
  readonly nodeId2: PublicKey
}

/** The routing fields of one direction's channel_update. */
export interface RgsPolicy {
  readonly cltvExpiryDelta: number
  readonly htlcMinimumMsat: bigint
  readonly feeBaseMsat: number
  readonly feeProportionalMillionths: number
  readonly htlcMaximumMsat: bigint
}

export interface RgsUpdate {
  readonly shortChannelId: ShortChannelId
  /** channel_flags bit 0. */
  readonly direction: 0 | 1
  /** channel_flags bit 1. */
  readonly disabled: boolean
  readonly policy: RgsPolicy
  /**
   * What the client is known to hold for this direction: the update goes out incremental (only the fields that
   * differ) unless all five differ, where a full update is as small and feeds the defaults. Absent: full update.
   */
  readonly previous?: RgsPolicy
}

/** v2 node details: features and addresses (alias and colour are not part of the format). */
export interface RgsNode {
  readonly nodeId: PublicKey
  readonly features: Uint8Array
  /** BOLT 7 address descriptors (type byte included), one per address. */
  readonly addresses: ReadonlyArray<Uint8Array>
}

export interface SnapshotInput {
  readonly version: Version
  readonly chainHash: ChainHash
  /** Unix seconds; what the client stores and asks the next snapshot from (see `alignTimestamp`). */
  readonly latestSeen: number
  /** Any order; sorted and de-duplicated by scid here. */
  readonly channels: ReadonlyArray<RgsChannel>
  /** Any order; sorted by (scid, direction) here; at most one per direction. */
  readonly updates: ReadonlyArray<RgsUpdate>
  /** v2 only (ignored for v1). */
  readonly nodes?: ReadonlyArray<RgsNode>
}

// ---------------------------------------------------------------------------------------------------------------
// From our decoded messages

export const channelOf = (a: ChannelAnnouncement): RgsChannel => ({
  shortChannelId: a.shortChannelId,
  features: a.features.slice(),
  nodeId1: a.nodeId1.slice(),
  nodeId2: a.nodeId2.slice()
})

/**
 * An update without `htlc_maximum_msat` (pre-2022, 130 bytes) has no limit but the capacity: MAX_VALUE_MSAT is the
 * largest value LDK accepts, and LDK's gossip handler requires the field, so such updates are otherwise unseen.
 */
export const policyOf = (u: ChannelUpdate): RgsPolicy => ({
  cltvExpiryDelta: u.cltvExpiryDelta,
  htlcMinimumMsat: u.htlcMinimumMsat,
  feeBaseMsat: u.feeBaseMsat,
  feeProportionalMillionths: u.feeProportionalMillionths,
  htlcMaximumMsat: u.htlcMaximumMsat === undefined || u.htlcMaximumMsat > MAX_VALUE_MSAT
    ? MAX_VALUE_MSAT
    : u.htlcMaximumMsat
})

export const updateOf = (u: ChannelUpdate, previous?: RgsPolicy): RgsUpdate => ({
  shortChannelId: u.shortChannelId,
  direction: (u.channelFlags & 1) as 0 | 1,
  disabled: (u.channelFlags & 2) !== 0,
  policy: policyOf(u),
  ...(previous === undefined ? {} : { previous })
})

/** Addresses as separate descriptors; types we do not know (BOLT 7: parsing stops there) are left out. */
export const nodeOf = (n: NodeAnnouncement): RgsNode => {
  const addresses: Array<Uint8Array> = []
  for (const a of n.addresses) if (a._tag !== "Unknown") addresses.push(encodeAddresses([a]))
  return { nodeId: n.nodeId.slice(), features: n.features.slice(), addresses }
}

/** Rounds down to the snapshot grid, as LDK's server does for `latest_seen_timestamp`. */
export const alignTimestamp = (unixSeconds: number): number =>
  Math.max(0, unixSeconds - (unixSeconds % SNAPSHOT_INTERVAL_SECONDS))

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** A growable big-endian byte sink (one per encode call). */
class Writer {
  private buf = new Uint8Array(1 << 16)
  private view = new DataView(this.buf.buffer)
  length = 0

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  u8(v: number): void {
    this.room(1)
    this.buf[this.length++] = v
  }
  u16(v: number): void {
    this.room(2)
    this.view.setUint16(this.length, v)
    this.length += 2
  }
  u32(v: number): void {
    this.room(4)
    this.view.setUint32(this.length, v)
    this.length += 4
  }
  u64(v: bigint): void {
    this.room(8)
    this.view.setBigUint64(this.length, v)
    this.length += 8
  }
  bigSize(v: bigint): void {
    this.room(9)
    this.length = BigSize.write(v, this.buf, this.length)
  }
  bytes(b: Uint8Array): void {
    this.room(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
  }
  /** u16 length, then the bytes (LDK's `Features` serialization, which is the BOLT wire form). */
  features(b: Uint8Array): void {
    this.u16(b.length)
    this.bytes(b)
  }
  patchU8(at: number, v: number): void {
    this.buf[at] = v
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

const FLAG_INCREMENTAL = 0b1000_0000
const FLAG_CLTV = 0b0100_0000
const FLAG_HTLC_MIN = 0b0010_0000
const FLAG_FEE_BASE = 0b0001_0000
const FLAG_FEE_PROP = 0b0000_1000
const FLAG_HTLC_MAX = 0b0000_0100

/** Which fields of `now` differ from `before`, as update flag bits. */
const changedFields = (now: RgsPolicy, before: RgsPolicy): number =>
  (now.cltvExpiryDelta !== before.cltvExpiryDelta ? FLAG_CLTV : 0) |
  (now.htlcMinimumMsat !== before.htlcMinimumMsat ? FLAG_HTLC_MIN : 0) |
  (now.feeBaseMsat !== before.feeBaseMsat ? FLAG_FEE_BASE : 0) |
  (now.feeProportionalMillionths !== before.feeProportionalMillionths ? FLAG_FEE_PROP : 0) |
  (now.htlcMaximumMsat !== before.htlcMaximumMsat ? FLAG_HTLC_MAX : 0)

const ALL_FIELDS = FLAG_CLTV | FLAG_HTLC_MIN | FLAG_FEE_BASE | FLAG_FEE_PROP | FLAG_HTLC_MAX

/** Most frequent value; ties go to the value seen first (deterministic output; LDK's server breaks ties by hash order). */
const mostCommon = <A>(values: Iterable<A>, fallback: A): A => {
  const counts = new Map<A, number>()
  let best = fallback
  let bestCount = 0
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1
    counts.set(v, c)
    if (c > bestCount) {
      best = v
      bestCount = c
    }
  }
  return best
}

/** The defaults: per field, the most common value among the full updates (0 when there are none). */
export const defaultPolicy = (full: ReadonlyArray<RgsPolicy>): RgsPolicy => ({
  cltvExpiryDelta: mostCommon(full.map((p) => p.cltvExpiryDelta), 0),
  htlcMinimumMsat: mostCommon(full.map((p) => p.htlcMinimumMsat), 0n),
  feeBaseMsat: mostCommon(full.map((p) => p.feeBaseMsat), 0),
  feeProportionalMillionths: mostCommon(full.map((p) => p.feeProportionalMillionths), 0),
  htlcMaximumMsat: mostCommon(full.map((p) => p.htlcMaximumMsat), 0n)
})

const isFull = (u: RgsUpdate): boolean => u.previous === undefined || changedFields(u.policy, u.previous) === ALL_FIELDS

const writeFields = (w: Writer, p: RgsPolicy, flags: number): void => {
  if (flags & FLAG_CLTV) w.u16(p.cltvExpiryDelta)
  if (flags & FLAG_HTLC_MIN) w.u64(p.htlcMinimumMsat)
  if (flags & FLAG_FEE_BASE) w.u32(p.feeBaseMsat)
  if (flags & FLAG_FEE_PROP) w.u32(p.feeProportionalMillionths)
  if (flags & FLAG_HTLC_MAX) w.u64(p.htlcMaximumMsat)
}

/**
 * Up to six feature sets shared by more than one node, most common first (LDK's server: `find_leading_histogram_
 * entries`); a node whose features are among them costs 3 bits instead of a length and the bytes.
 */
export const defaultNodeFeatures = (nodes: ReadonlyArray<RgsNode>): ReadonlyArray<Uint8Array> => {
  const counts = new Map<string, { features: Uint8Array; count: number; first: number }>()
  nodes.forEach((n, i) => {
    const key = toHex(n.features)
    const entry = counts.get(key)
    if (entry === undefined) counts.set(key, { features: n.features, count: 1, first: i })
    else entry.count += 1
  })
  return [...counts.values()]
    .filter((e) => e.count > 1)
    .sort((a, b) => b.count - a.count || a.first - b.first)
    .slice(0, MAX_DEFAULT_NODE_FEATURES)
    .map((e) => e.features)
}

const byScid = (a: { readonly shortChannelId: bigint }, b: { readonly shortChannelId: bigint }): number =>
  a.shortChannelId < b.shortChannelId ? -1 : a.shortChannelId > b.shortChannelId ? 1 : 0

/** The snapshot's bytes. Throws RangeError for a value with no encoding (a scid or field out of range). */
export const encodeSnapshot = (input: SnapshotInput): Uint8Array => {
  const channels = input.channels.slice().sort(byScid).filter((c, i, all) =>
    i === 0 || all[i - 1].shortChannelId !== c.shortChannelId
  )
  const updates = input.updates
    .slice()
    .sort((a, b) => byScid(a, b) || a.direction - b.direction)
    .filter((u, i, all) =>
      i === 0 || all[i - 1].shortChannelId !== u.shortChannelId || all[i - 1].direction !== u.direction
    )
  const nodes = input.version === 2 ? (input.nodes ?? []) : []

  // The node table: ids in order of first use by an announcement, then (v2) nodes whose details change.
  const index = new Map<string, number>()
  const table: Array<PublicKey> = []
  const indexOf = (id: PublicKey): number => {
    const key = toHex(id)
    let i = index.get(key)
    if (i === undefined) {
      i = table.length
      index.set(key, i)
      table.push(id)
    }
    return i
  }
  const body = new Writer()
  body.u32(channels.length)
  let previous = 0n
  for (const c of channels) {
    body.features(c.features)
    body.bigSize(c.shortChannelId - previous)
    previous = c.shortChannelId
    body.bigSize(BigInt(indexOf(c.nodeId1)))
    body.bigSize(BigInt(indexOf(c.nodeId2)))
  }

  body.u32(updates.length)
  if (updates.length > 0) {
    const defaults = defaultPolicy(updates.filter(isFull).map((u) => u.policy))
    body.u16(defaults.cltvExpiryDelta)
    body.u64(defaults.htlcMinimumMsat)
    body.u32(defaults.feeBaseMsat)
    body.u32(defaults.feeProportionalMillionths)
    body.u64(defaults.htlcMaximumMsat)
    previous = 0n
    for (const u of updates) {
      body.bigSize(u.shortChannelId - previous)
      previous = u.shortChannelId
      const channelFlags = u.direction | (u.disabled ? 2 : 0)
      const fields = isFull(u)
        ? changedFields(u.policy, defaults)
        : changedFields(u.policy, u.previous as RgsPolicy) | FLAG_INCREMENTAL
      body.u8(channelFlags | fields)
      writeFields(body, u.policy, fields)
    }
  }

  const out = new Writer()
  for (const b of PREFIX) out.u8(b)
  out.u8(input.version)
  out.bytes(input.chainHash)
  out.u32(input.latestSeen)
  if (input.version === 2) {
    const featureDefaults = defaultNodeFeatures(nodes)
    out.u8(featureDefaults.length)
    for (const f of featureDefaults) out.features(f)
    const details = new Map<number, RgsNode>()
    for (const n of nodes) details.set(indexOf(n.nodeId), n)
    out.u32(table.length)
    table.forEach((id, i) => {
      const at = out.length
      out.bytes(id)
      const n = details.get(i)
      if (n === undefined) return
      let flags = id[0] & 0b11
      flags |= 1 << 2
      const addresses = n.addresses.filter((a) => a.length <= 0xff).slice(0, 0xff)
      out.u8(addresses.length)
      for (const a of addresses) {
        out.u8(a.length)
        out.bytes(a)
      }
      const d = featureDefaults.findIndex((f) => sameBytes(f, n.features))
      if (d >= 0) flags |= (d + 1) << 3
      else {
        flags |= 7 << 3
        out.features(n.features)
      }
      out.patchU8(at, flags)
    })
  } else {
    out.u32(table.length)
    for (const id of table) out.bytes(id)
  }
  out.bytes(body.result())
  return out.result()
}
