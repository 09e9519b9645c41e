/**
 * The BOLT 1 and BOLT 7 messages lnsync exchanges, as plain immutable values.
 *
 * Every decoded message may be re-encoded to exactly the bytes it came from: fields the spec lets grow (trailing
 * bytes after the known fields, unknown odd TLV records) are kept verbatim. Gossip messages (the three signed
 * announcement types) also keep `raw`, the whole wire message as received (type included), because signatures are
 * checked over the bytes received and stored bytes are what we serve to peers — never a re-encoding (lnd#10835).
 */
import type { ShortChannelId } from "./ShortChannelId.js"

/** 32-byte chain hash as it appears on the wire (bitcoin mainnet: 6fe28c0a…, little-endian genesis hash). */
export type ChainHash = Uint8Array
/** 33-byte compressed secp256k1 public key. */
export type PublicKey = Uint8Array
/** 64-byte compact (r || s) ECDSA signature. */
export type Signature = Uint8Array

/** Wire type numbers (BOLT 1, BOLT 7). */
export const MessageType = {
  Warning: 1,
  Init: 16,
  Error: 17,
  Ping: 18,
  Pong: 19,
  ChannelAnnouncement: 256,
  NodeAnnouncement: 257,
  ChannelUpdate: 258,
  QueryShortChannelIds: 261,
  ReplyShortChannelIdsEnd: 262,
  QueryChannelRange: 263,
  ReplyChannelRange: 264,
  GossipTimestampFilter: 265
} as const

/** One TLV record we do not interpret (an unknown odd type), kept for byte-identical re-encoding. */
export interface TlvRecord {
  readonly type: bigint
  readonly value: Uint8Array
}

// ---------------------------------------------------------------------------------------------------------------
// BOLT 1

export interface Init {
  readonly _tag: "Init"
  readonly globalFeatures: Uint8Array
  readonly features: Uint8Array
  /** `networks` TLV (type 1): the chains the sender is interested in; undefined when absent. */
  readonly networks: ReadonlyArray<ChainHash> | undefined
  /** `remote_addr` TLV (type 3), raw address descriptor; undefined when absent. */
  readonly remoteAddr: Uint8Array | undefined
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

export interface ErrorMessage {
  readonly _tag: "Error"
  readonly channelId: Uint8Array
  readonly data: Uint8Array
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

export interface Warning {
  readonly _tag: "Warning"
  readonly channelId: Uint8Array
  readonly data: Uint8Array
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

export interface Ping {
  readonly _tag: "Ping"
  readonly numPongBytes: number
  readonly ignored: Uint8Array
  /** Extension TLV records (unknown odd types) when the sender added any; kept so re-encoding is exact. */
  readonly unknownTlvs?: ReadonlyArray<TlvRecord>
}

export interface Pong {
  readonly _tag: "Pong"
  readonly ignored: Uint8Array
  /** Extension TLV records (unknown odd types) when the sender added any; kept so re-encoding is exact. */
  readonly unknownTlvs?: ReadonlyArray<TlvRecord>
}

// ---------------------------------------------------------------------------------------------------------------
// BOLT 7 gossip (signed)

export interface ChannelAnnouncement {
  readonly _tag: "ChannelAnnouncement"
  readonly nodeSignature1: Signature
  readonly nodeSignature2: Signature
  readonly bitcoinSignature1: Signature
  readonly bitcoinSignature2: Signature
  readonly features: Uint8Array
  readonly chainHash: ChainHash
  readonly shortChannelId: ShortChannelId
  readonly nodeId1: PublicKey
  readonly nodeId2: PublicKey
  readonly bitcoinKey1: PublicKey
  readonly bitcoinKey2: PublicKey
  /** Bytes after the known fields (covered by the signatures). */
  readonly trailing: Uint8Array
  /** The whole wire message as received, type included. */
  readonly raw: Uint8Array
}

export type NodeAddress =
  | { readonly _tag: "IPv4"; readonly address: string; readonly port: number }
  | { readonly _tag: "IPv6"; readonly address: string; readonly port: number }
  | { readonly _tag: "TorV2"; readonly onion: Uint8Array; readonly port: number }
  | { readonly _tag: "TorV3"; readonly onion: string; readonly port: number }
  | { readonly _tag: "DnsHostname"; readonly hostname: string; readonly port: number }
  /** An address type we do not know: BOLT 7 says stop parsing there; the rest of the field is kept as-is. */
  | { readonly _tag: "Unknown"; readonly type: number; readonly data: Uint8Array }

export interface NodeAnnouncement {
  readonly _tag: "NodeAnnouncement"
  readonly signature: Signature
  readonly features: Uint8Array
  readonly timestamp: number
  readonly nodeId: PublicKey
  readonly rgbColor: Uint8Array
  readonly alias: Uint8Array
  /** The raw `addresses` field (kept so re-encoding is exact, even for address types we do not know). */
  readonly addressBytes: Uint8Array
  readonly addresses: ReadonlyArray<NodeAddress>
  readonly trailing: Uint8Array
  readonly raw: Uint8Array
}

export interface ChannelUpdate {
  readonly _tag: "ChannelUpdate"
  readonly signature: Signature
  readonly chainHash: ChainHash
  readonly shortChannelId: ShortChannelId
  readonly timestamp: number
  readonly messageFlags: number
  /** Bit 0: direction (0 = node_id_1 signed it); bit 1: disabled. */
  readonly channelFlags: number
  readonly cltvExpiryDelta: number
  readonly htlcMinimumMsat: bigint
  readonly feeBaseMsat: number
  readonly feeProportionalMillionths: number
  /** Present when `message_flags` bit 0 is set (mandatory for new updates; old 130-byte updates lack it). */
  readonly htlcMaximumMsat: bigint | undefined
  readonly trailing: Uint8Array
  readonly raw: Uint8Array
}

export type GossipMessage = ChannelAnnouncement | NodeAnnouncement | ChannelUpdate

// ---------------------------------------------------------------------------------------------------------------
// BOLT 7 gossip queries

/** `encoded_short_ids` and friends: 0 = plain (the only one we send), 1 = zlib (deprecated; decoded, bounded). */
export type Encoding = 0 | 1

export interface EncodedShortIds {
  readonly encoding: Encoding
  readonly ids: ReadonlyArray<ShortChannelId>
  /** For encoding 1: the exact compressed bytes received, so re-encoding is byte-identical. */
  readonly compressed?: Uint8Array
}

export interface QueryShortChannelIds {
  readonly _tag: "QueryShortChannelIds"
  readonly chainHash: ChainHash
  readonly shortIds: EncodedShortIds
  /** `query_flags` TLV (type 1): one BigSize flag per id (bit 0 ann, 1 update 1, 2 update 2, 3 node 1, 4 node 2). */
  readonly queryFlags: {
    readonly encoding: Encoding
    readonly flags: ReadonlyArray<bigint>
    readonly compressed?: Uint8Array
  } | undefined
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

export interface ReplyShortChannelIdsEnd {
  readonly _tag: "ReplyShortChannelIdsEnd"
  readonly chainHash: ChainHash
  readonly fullInformation: number
  /** Extension TLV records (unknown odd types) when the sender added any; kept so re-encoding is exact. */
  readonly unknownTlvs?: ReadonlyArray<TlvRecord>
}

export interface QueryChannelRange {
  readonly _tag: "QueryChannelRange"
  readonly chainHash: ChainHash
  readonly firstBlocknum: number
  readonly numberOfBlocks: number
  /** `query_option` TLV (type 1): bit 0 = want timestamps, bit 1 = want checksums; undefined when absent. */
  readonly queryOption: bigint | undefined
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

/** Per-channel pair of update timestamps (node_1's direction, node_2's), 0 when unknown. */
export interface UpdateTimestamps {
  readonly timestamp1: number
  readonly timestamp2: number
}

/** Per-channel pair of update checksums (CRC32C, see Checksum), 0 when unknown. */
export interface UpdateChecksums {
  readonly checksum1: number
  readonly checksum2: number
}

export interface ReplyChannelRange {
  readonly _tag: "ReplyChannelRange"
  readonly chainHash: ChainHash
  readonly firstBlocknum: number
  readonly numberOfBlocks: number
  readonly syncComplete: number
  readonly shortIds: EncodedShortIds
  /** `timestamps_tlv` (type 1): one entry per id, same order. */
  readonly timestamps: {
    readonly encoding: Encoding
    readonly entries: ReadonlyArray<UpdateTimestamps>
    readonly compressed?: Uint8Array
  } | undefined
  /** `checksums_tlv` (type 3): one entry per id, same order. */
  readonly checksums: ReadonlyArray<UpdateChecksums> | undefined
  readonly unknownTlvs: ReadonlyArray<TlvRecord>
}

export interface GossipTimestampFilter {
  readonly _tag: "GossipTimestampFilter"
  readonly chainHash: ChainHash
  readonly firstTimestamp: number
  readonly timestampRange: number
  /** Extension TLV records (unknown odd types) when the sender added any; kept so re-encoding is exact. */
  readonly unknownTlvs?: ReadonlyArray<TlvRecord>
}

/** A message type we do not know. Only odd types decode to this (BOLT 1: unknown even types are an error). */
export interface UnknownMessage {
  readonly _tag: "UnknownMessage"
  readonly type: number
  readonly payload: Uint8Array
}

export type QueryMessage =
  | QueryShortChannelIds
  | ReplyShortChannelIdsEnd
  | QueryChannelRange
  | ReplyChannelRange
  | GossipTimestampFilter

export type Message =
  | Init
  | ErrorMessage
  | Warning
  | Ping
  | Pong
  | GossipMessage
  | QueryMessage
  | UnknownMessage

export const isGossipMessage = (m: Message): m is GossipMessage =>
  m._tag === "ChannelAnnouncement" || m._tag === "NodeAnnouncement" || m._tag === "ChannelUpdate"

export const isQueryMessage = (m: Message): m is QueryMessage =>
  m._tag === "QueryShortChannelIds" ||
  m._tag === "ReplyShortChannelIdsEnd" ||
  m._tag === "QueryChannelRange" ||
  m._tag === "ReplyChannelRange" ||
  m._tag === "GossipTimestampFilter"
