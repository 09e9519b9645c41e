/**
 * BOLT 7 receive rules that need nothing but the message and the clock: structure, chain, key order, feature bits,
 * addresses, timestamps. Plain functions, run on every message before any store read or signature work.
 */
import { scanAddresses } from "../../../domain/Addresses.js"
import { compareBytes, equalAt, u16, u32, u64 } from "../../../domain/Bytes.js"
import { sameChain } from "../../../domain/Chain.js"
import * as Features from "../../../domain/Features.js"
import type { ChannelAnnouncement, ChannelUpdate, GossipMessage, NodeAnnouncement } from "../../../domain/Messages.js"
import { MessageType } from "../../../domain/Messages.js"
import {
  ANN_FEATURES_LEN,
  CHAIN,
  KEY,
  NODE_FEATURES_LEN,
  SCID,
  UPDATE_CHAIN,
  UPDATE_FIXED
} from "../../../domain/RawGossip.js"
import type { Verdict } from "../../GossipPipeline.js"

/**
 * The decoded fields the pipeline acts on (chain, short channel id, node ids, timestamps, direction, features,
 * addresses) are exactly the bytes the signatures cover, and `raw` is long enough for every fixed-size field. The
 * codec guarantees this for what it decodes; the pipeline checks it anyway because it stores `raw` and indexes by
 * the decoded fields. Signatures and bitcoin keys are read from `raw` itself when verifying (lnd#10835).
 */
export const wellFormed = (msg: GossipMessage): boolean => {
  const raw = msg.raw
  switch (msg._tag) {
    case "ChannelAnnouncement": {
      const m = msg
      if (raw.length < ANN_FEATURES_LEN + 2 || u16(raw, 0) !== MessageType.ChannelAnnouncement) return false
      let at = ANN_FEATURES_LEN
      const flen = u16(raw, at)
      at += 2
      if (m.features.length !== flen || !equalAt(raw, at, m.features)) return false
      at += flen
      if (raw.length < at + CHAIN + SCID + 4 * KEY) return false
      if (m.chainHash.length !== CHAIN || !equalAt(raw, at, m.chainHash)) return false
      at += CHAIN
      if (u64(raw, at) !== m.shortChannelId) return false
      at += SCID
      // node ids index the graph; the bitcoin keys (like the signatures) are read from `raw` when verifying
      return m.nodeId1.length === KEY && equalAt(raw, at, m.nodeId1) && m.nodeId2.length === KEY &&
        equalAt(raw, at + KEY, m.nodeId2)
    }
    case "NodeAnnouncement": {
      const m = msg
      if (raw.length < NODE_FEATURES_LEN + 2 || u16(raw, 0) !== MessageType.NodeAnnouncement) return false
      let at = NODE_FEATURES_LEN
      const flen = u16(raw, at)
      at += 2
      if (m.features.length !== flen || !equalAt(raw, at, m.features)) return false
      at += flen
      if (raw.length < at + 4 + KEY + 3 + 32 + 2) return false
      if (u32(raw, at) !== m.timestamp) return false
      at += 4
      if (m.nodeId.length !== KEY || !equalAt(raw, at, m.nodeId)) return false
      at += KEY + 3 + 32
      const alen = u16(raw, at)
      at += 2
      return m.addressBytes.length === alen && equalAt(raw, at, m.addressBytes)
    }
    case "ChannelUpdate": {
      const m = msg
      // then cltv_expiry_delta 2, htlc_minimum_msat 8, fee_base_msat 4, fee_proportional_millionths 4
      const fixed = UPDATE_FIXED + 2 + 8 + 4 + 4
      if (raw.length < fixed || u16(raw, 0) !== MessageType.ChannelUpdate) return false
      let at = UPDATE_CHAIN
      if (m.chainHash.length !== CHAIN || !equalAt(raw, at, m.chainHash)) return false
      at += CHAIN
      if (u64(raw, at) !== m.shortChannelId) return false
      at += SCID
      if (u32(raw, at) !== m.timestamp) return false
      at += 4
      return raw[at] === m.messageFlags && raw[at + 1] === m.channelFlags
    }
  }
}

/**
 * BOLT 9 even bits we understand in a node_announcement: the named pairs plus option_anchor_outputs (20),
 * option_provide_storage (42), option_simple_close (60) and option_splice (62).
 */
export const KNOWN_NODE_FEATURES: ReadonlyArray<Features.FeaturePair | number> = [...Features.NAMED, 20, 42, 60, 62]
/** BOLT 9 assigns no channel_announcement ("C" context) feature yet: every even bit there is unknown. */
export const KNOWN_CHANNEL_FEATURES: ReadonlyArray<Features.FeaturePair | number> = []

const bitSet = (known: ReadonlyArray<Features.FeaturePair | number>): ReadonlySet<number> =>
  new Set(known.flatMap((k) => (typeof k === "number" ? [k] : [k.even, k.odd])))
const KNOWN_NODE_BITS = bitSet(KNOWN_NODE_FEATURES)
const KNOWN_CHANNEL_BITS = bitSet(KNOWN_CHANNEL_FEATURES)

/** Whether `features` sets an even bit not in `known` (same answer as `Features.unknownEvenBits`, no allocation). */
export const hasUnknownEvenBit = (features: Uint8Array, known: ReadonlySet<number>): boolean => {
  for (let i = 0; i < features.length; i++) {
    const byte = features[i] & 0x55 // even bits of this byte
    if (byte === 0) continue
    const base = (features.length - 1 - i) * 8
    for (let k = 0; k < 8; k += 2) if (byte & (1 << k) && !known.has(base + k)) return true
  }
  return false
}

/**
 * BOLT 7 addresses: every descriptor of a known type complete ("addrlen insufficient" is malformed), hostnames
 * ASCII ("MUST be ASCII"), at most one DNS hostname (more: "MUST not forward" — storing it would serve it).
 */
export const addressesWellFormed = (addressBytes: Uint8Array): boolean => {
  const scan = scanAddresses(addressBytes)
  return scan !== undefined && scan.dnsHostnames <= 1 && scan.asciiHostnames
}

export interface RuleContext {
  readonly chainHash: Uint8Array
  readonly nowSeconds: number
  readonly staleSeconds: number
  readonly maxFutureSeconds: number
}

const invalid = (reason: Extract<Verdict, { _tag: "Invalid" }>["reason"]): Verdict => ({ _tag: "Invalid", reason })
const TOO_OLD: Verdict = { _tag: "Stale", reason: "TooOld" }
const IN_FUTURE: Verdict = { _tag: "Stale", reason: "InFuture" }

/** BOLT 7 pruning horizon and "unreasonably far in the future". */
export const timestampVerdict = (timestamp: number, ctx: RuleContext): Verdict | undefined =>
  timestamp < ctx.nowSeconds - ctx.staleSeconds
    ? TOO_OLD
    : timestamp > ctx.nowSeconds + ctx.maxFutureSeconds
    ? IN_FUTURE
    : undefined

const channelAnnouncementVerdict = (m: ChannelAnnouncement, ctx: RuleContext): Verdict | undefined => {
  // BOLT 7: "if the specified chain_hash is unknown to the receiver: MUST ignore the message"
  if (!sameChain(m.chainHash, ctx.chainHash)) return invalid("WrongChain")
  // BOLT 7: node_id_1 is the lexicographically-lesser of the two compressed keys (equal keys are no channel)
  if (compareBytes(m.nodeId1, m.nodeId2) >= 0) return invalid("NodeIdsNotOrdered")
  // BOLT 7 / BOLT 9: unknown even ("required") bits — the channel is unusable; we do not keep it
  if (hasUnknownEvenBit(m.features, KNOWN_CHANNEL_BITS)) return invalid("UnknownEvenFeature")
  return undefined
}

const nodeAnnouncementVerdict = (m: NodeAnnouncement, ctx: RuleContext): Verdict | undefined => {
  if (hasUnknownEvenBit(m.features, KNOWN_NODE_BITS)) return invalid("UnknownEvenFeature")
  if (!addressesWellFormed(m.addressBytes)) return invalid("MalformedAddresses")
  return timestampVerdict(m.timestamp, ctx)
}

const channelUpdateVerdict = (m: ChannelUpdate, ctx: RuleContext): Verdict | undefined => {
  // BOLT 7: "if the specified chain_hash value is unknown ...: MUST ignore the channel update"
  if (!sameChain(m.chainHash, ctx.chainHash)) return invalid("WrongChain")
  // BOLT 7: the origin "MUST set timestamp to greater than 0"; lnd scores a zero timestamp as an offence (SM-33)
  if (m.timestamp === 0) return invalid("ZeroTimestamp")
  return timestampVerdict(m.timestamp, ctx)
}

/** The verdict the message gets without looking at the graph or any signature, or undefined to go on. */
export const statelessVerdict = (msg: GossipMessage, ctx: RuleContext): Verdict | undefined => {
  if (!wellFormed(msg)) return invalid("Malformed")
  switch (msg._tag) {
    case "ChannelAnnouncement":
      return channelAnnouncementVerdict(msg, ctx)
    case "NodeAnnouncement":
      return nodeAnnouncementVerdict(msg, ctx)
    case "ChannelUpdate":
      return channelUpdateVerdict(msg, ctx)
  }
}

/**
 * SM-33: the verdicts that cost the sending peer a point (lnd's ban manager). Gossip for another chain is not one:
 * BOLT 7 says to ignore a channel_announcement / channel_update whose chain_hash is unknown to us, and a peer that
 * serves several chains (or a test network) does nothing wrong by relaying validly signed gossip of another.
 */
export const isOffence = (v: Verdict): boolean =>
  (v._tag === "Invalid" && v.reason !== "WrongChain") || (v._tag === "Stale" && v.reason === "InFuture")
