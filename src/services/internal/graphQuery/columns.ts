/**
 * The decoded columns the SQL store writes beside each raw message (migration 4) and the API reads back: plain
 * scalars taken from fields the codec already decoded, so keeping them costs no extra parsing. One place, so the
 * write path, the backfill of older files and the tests agree on every value.
 */
import { toHex } from "../../../domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAddress, NodeAnnouncement } from "../../../domain/Messages.js"

/** SQL INTEGER is signed 64-bit (SQLite and PG BIGINT); a u64 msat amount above it is clamped (no real amount is). */
export const MAX_SQL_INTEGER = (1n << 63n) - 1n

export const sqlU64 = (v: bigint): bigint => (v > MAX_SQL_INTEGER ? MAX_SQL_INTEGER : v)

/** BOLT 7 `channel_flags` bit 1: the direction is disabled. */
export const DISABLED_BIT = 2

/** One address of a node, as the `nodes.addresses` JSON column and the API hold it. */
export interface AddressColumn {
  readonly type: "ipv4" | "ipv6" | "torv3" | "dns"
  readonly address: string
  readonly port: number
}

const utf8 = new TextDecoder("utf-8", { fatal: false })

/** BOLT 7 alias: 32 bytes of UTF-8 padded with zero bytes (lnd and CLN trim them); invalid bytes become U+FFFD. */
export const aliasText = (alias: Uint8Array): string => {
  let end = alias.length
  while (end > 0 && alias[end - 1] === 0) end--
  return utf8.decode(alias.subarray(0, end))
}

/** `#rrggbb`, lnd's and CLN's form. */
export const colorText = (rgb: Uint8Array): string => `#${toHex(rgb)}`

/**
 * The addresses we can state as host and port. Tor v2 (deprecated by BOLT 7, its services no longer exist) and
 * descriptors of unknown types are left out; the raw announcement still holds them.
 */
export const addressColumns = (addresses: ReadonlyArray<NodeAddress>): Array<AddressColumn> => {
  const out: Array<AddressColumn> = []
  for (const a of addresses) {
    switch (a._tag) {
      case "IPv4":
        out.push({ type: "ipv4", address: a.address, port: a.port })
        break
      case "IPv6":
        out.push({ type: "ipv6", address: a.address, port: a.port })
        break
      case "TorV3":
        out.push({ type: "torv3", address: a.onion, port: a.port })
        break
      case "DnsHostname":
        out.push({ type: "dns", address: a.hostname, port: a.port })
        break
    }
  }
  return out
}

/** `nodes` columns after (node_id, timestamp, raw): alias, rgb_color, features (hex), addresses (JSON). */
export const nodeColumns = (n: NodeAnnouncement): readonly [string, string, string, string] => [
  aliasText(n.alias),
  colorText(n.rgbColor),
  toHex(n.features),
  JSON.stringify(addressColumns(n.addresses))
]

/** `channels` columns after (scid, node_id1, node_id2, raw): features (hex). capacity_sat is written by no one yet. */
export const channelColumns = (c: ChannelAnnouncement): readonly [string] => [toHex(c.features)]

/**
 * `channel_updates` columns after (scid, direction, timestamp, checksum, raw): fee_base_msat,
 * fee_proportional_millionths, cltv_expiry_delta, htlc_minimum_msat, htlc_maximum_msat (NULL when the update has
 * none), disabled (0/1).
 */
export const updateColumns = (
  u: ChannelUpdate
): readonly [number, number, number, bigint, bigint | null, number] => [
  u.feeBaseMsat,
  u.feeProportionalMillionths,
  u.cltvExpiryDelta,
  sqlU64(u.htlcMinimumMsat),
  u.htlcMaximumMsat === undefined ? null : sqlU64(u.htlcMaximumMsat),
  (u.channelFlags & DISABLED_BIT) === 0 ? 0 : 1
]
