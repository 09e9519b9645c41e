/**
 * Every offset into a raw BOLT 7 gossip message (type included), in one place. The pipeline checks decoded fields
 * against these bytes, the syncer reads a few fields of stored gossip it serves without decoding it (GS-40), and the
 * signature code hashes from `signedOffset`. Callers pass a message the codec accepted, so the fixed fields are there.
 *
 * channel_announcement: type 2 | 4 × sig 64 | flen 2 | features | chain 32 | scid 8 | node_id_1 33 | node_id_2 33
 *                       | bitcoin_key_1 33 | bitcoin_key_2 33
 * node_announcement:    type 2 | sig 64 | flen 2 | features | timestamp 4 | node_id 33 | rgb 3 | alias 32 | alen 2 | addr
 * channel_update:       type 2 | sig 64 | chain 32 | scid 8 | timestamp 4 | message_flags 1 | channel_flags 1 | ...
 */
import { u16, u32, u64 } from "./Bytes.js"
import type { ShortChannelId } from "./ShortChannelId.js"

export const TYPE = 2
export const SIG = 64
export const KEY = 33
export const CHAIN = 32
export const SCID = 8

export type SignedKind = "ChannelAnnouncement" | "NodeAnnouncement" | "ChannelUpdate"

/** Where the signed part starts (BOLT 7: everything after the signature(s)). */
export const signedOffset = (kind: SignedKind): number => (kind === "ChannelAnnouncement" ? TYPE + 4 * SIG : TYPE + SIG)

// channel_announcement
/** Offset of `len` (features length) in a channel_announcement. */
export const ANN_FEATURES_LEN = TYPE + 4 * SIG
/** Offset of `chain_hash`, right after the features. */
export const announcementChainAt = (raw: Uint8Array): number => ANN_FEATURES_LEN + 2 + u16(raw, ANN_FEATURES_LEN)
export const announcementScidAt = (raw: Uint8Array): number => announcementChainAt(raw) + CHAIN
/** Offset of node_id_1; node_id_2, bitcoin_key_1 and bitcoin_key_2 follow, each `KEY` bytes. */
export const announcementKeysAt = (raw: Uint8Array): number => announcementScidAt(raw) + SCID
export const announcementScid = (raw: Uint8Array): ShortChannelId => u64(raw, announcementScidAt(raw))

// node_announcement
export const NODE_FEATURES_LEN = TYPE + SIG
export const nodeTimestampAt = (raw: Uint8Array): number => NODE_FEATURES_LEN + 2 + u16(raw, NODE_FEATURES_LEN)
export const nodeIdAt = (raw: Uint8Array): number => nodeTimestampAt(raw) + 4
/** Offset of `addrlen`; the addresses follow. */
export const nodeAddressesLenAt = (raw: Uint8Array): number => nodeIdAt(raw) + KEY + 3 + 32
export const nodeId = (raw: Uint8Array): Uint8Array => raw.subarray(nodeIdAt(raw), nodeIdAt(raw) + KEY)

// channel_update
export const UPDATE_CHAIN = TYPE + SIG
export const UPDATE_SCID = UPDATE_CHAIN + CHAIN
export const UPDATE_TIMESTAMP = UPDATE_SCID + SCID
export const UPDATE_MESSAGE_FLAGS = UPDATE_TIMESTAMP + 4
export const UPDATE_CHANNEL_FLAGS = UPDATE_MESSAGE_FLAGS + 1
/** Bytes up to and including channel_flags (what the pipeline and the syncer read without decoding). */
export const UPDATE_FIXED = UPDATE_CHANNEL_FLAGS + 1
export const updateScid = (raw: Uint8Array): ShortChannelId => u64(raw, UPDATE_SCID)
export const updateTimestamp = (raw: Uint8Array): number => u32(raw, UPDATE_TIMESTAMP)
/** BOLT 7: bit 0 of channel_flags is the direction (0: node_id_1 is the origin). */
export const updateDirection = (raw: Uint8Array): 0 | 1 => (raw[UPDATE_CHANNEL_FLAGS] & 1) as 0 | 1
