/**
 * BOLT 9 feature bits as a value type over the raw big-endian bytes found in `init`, `channel_announcement` and
 * `node_announcement`. Bit 0 is the least significant bit of the LAST byte. Even bits are "required", odd bits
 * "optional" ("it's OK to be odd"). Operations never drop bits they do not know: unknown bits are preserved.
 */
export type Features = Uint8Array

/** A feature's even (required) and odd (optional) bit. */
export interface FeaturePair {
  readonly name: string
  readonly even: number
  readonly odd: number
}

const pair = (name: string, even: number): FeaturePair => ({ name, even, odd: even + 1 })

export const OPTION_DATA_LOSS_PROTECT = pair("option_data_loss_protect", 0)
/** BOLT 9: only the odd bit 3 is assigned (bit 2 is not part of it). */
export const INITIAL_ROUTING_SYNC = 3
export const OPTION_UPFRONT_SHUTDOWN_SCRIPT = pair("option_upfront_shutdown_script", 4)
export const GOSSIP_QUERIES = pair("gossip_queries", 6)
export const VAR_ONION_OPTIN = pair("var_onion_optin", 8)
export const GOSSIP_QUERIES_EX = pair("gossip_queries_ex", 10)
export const OPTION_STATIC_REMOTEKEY = pair("option_static_remotekey", 12)
export const PAYMENT_SECRET = pair("payment_secret", 14)
export const BASIC_MPP = pair("basic_mpp", 16)
export const OPTION_SUPPORT_LARGE_CHANNEL = pair("option_support_large_channel", 18)
export const OPTION_ANCHORS = pair("option_anchors", 22)
export const OPTION_ROUTE_BLINDING = pair("option_route_blinding", 24)
export const OPTION_SHUTDOWN_ANYSEGWIT = pair("option_shutdown_anysegwit", 26)
export const OPTION_DUAL_FUND = pair("option_dual_fund", 28)
export const OPTION_QUIESCE = pair("option_quiesce", 34)
export const OPTION_ONION_MESSAGES = pair("option_onion_messages", 38)
export const OPTION_CHANNEL_TYPE = pair("option_channel_type", 44)
export const OPTION_SCID_ALIAS = pair("option_scid_alias", 46)
export const OPTION_PAYMENT_METADATA = pair("option_payment_metadata", 48)
export const OPTION_ZEROCONF = pair("option_zeroconf", 50)

/** Every pair named above, for logs and for "which even bits do we understand" lists. */
export const NAMED: ReadonlyArray<FeaturePair> = [
  OPTION_DATA_LOSS_PROTECT,
  OPTION_UPFRONT_SHUTDOWN_SCRIPT,
  GOSSIP_QUERIES,
  VAR_ONION_OPTIN,
  GOSSIP_QUERIES_EX,
  OPTION_STATIC_REMOTEKEY,
  PAYMENT_SECRET,
  BASIC_MPP,
  OPTION_SUPPORT_LARGE_CHANNEL,
  OPTION_ANCHORS,
  OPTION_ROUTE_BLINDING,
  OPTION_SHUTDOWN_ANYSEGWIT,
  OPTION_DUAL_FUND,
  OPTION_QUIESCE,
  OPTION_ONION_MESSAGES,
  OPTION_CHANNEL_TYPE,
  OPTION_SCID_ALIAS,
  OPTION_PAYMENT_METADATA,
  OPTION_ZEROCONF
]

export const empty: Features = new Uint8Array(0)

export const has = (features: Features, bit: number): boolean => {
  const index = features.length - 1 - (bit >> 3)
  return index >= 0 && (features[index] & (1 << (bit & 7))) !== 0
}

/** The peer supports the feature: either its required (even) or optional (odd) bit is set. */
export const supports = (features: Features, feature: FeaturePair): boolean =>
  has(features, feature.even) || has(features, feature.odd)

/** The peer requires the feature (even bit set). */
export const requires = (features: Features, feature: FeaturePair): boolean => has(features, feature.even)

/** A copy of `features` with `bits` set, grown on the left as needed; existing (unknown) bits are kept. */
export const set = (features: Features, ...bits: ReadonlyArray<number>): Features => {
  let top = -1
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 0) throw new RangeError(`feature bit out of range: ${b}`)
    if (b > top) top = b
  }
  const length = Math.max(features.length, (top >> 3) + 1)
  const out = new Uint8Array(length)
  out.set(features, length - features.length)
  for (const b of bits) out[length - 1 - (b >> 3)] |= 1 << (b & 7)
  return out
}

/** The shortest byte string with exactly `bits` set. */
export const fromBits = (bits: Iterable<number>): Features => set(empty, ...bits)

/** Every set bit, ascending. */
export const bits = (features: Features): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (let i = features.length - 1; i >= 0; i--) {
    const byte = features[i]
    if (byte === 0) continue
    const base = (features.length - 1 - i) * 8
    for (let k = 0; k < 8; k++) if (byte & (1 << k)) out.push(base + k)
  }
  return out
}

/** Bitwise OR (BOLT 9: a node's `init` features are `globalfeatures | features`). */
export const union = (a: Features, b: Features): Features => {
  const length = Math.max(a.length, b.length)
  const out = new Uint8Array(length)
  out.set(a, length - a.length)
  for (let i = 0; i < b.length; i++) out[length - b.length + i] |= b[i]
  return out
}

/**
 * Even bits set in `features` that are not in `known` (pairs, or single bit numbers). BOLT 1/7/9: a node receiving
 * unknown even ("required") bits must not proceed (fail the connection / ignore the announcement's channel).
 */
export const unknownEvenBits = (
  features: Features,
  known: ReadonlyArray<FeaturePair | number>
): ReadonlyArray<number> => {
  const knownBits = new Set<number>()
  for (const k of known) {
    if (typeof k === "number") knownBits.add(k)
    else {
      knownBits.add(k.even)
      knownBits.add(k.odd)
    }
  }
  return bits(features).filter((b) => (b & 1) === 0 && !knownBits.has(b))
}

/** Names for the set bits (unknown ones as `bit<n>`), for logs and the CLI. */
export const describe = (features: Features): ReadonlyArray<string> =>
  bits(features).map((b) => {
    if (b === INITIAL_ROUTING_SYNC) return "initial_routing_sync"
    const p = NAMED.find((f) => f.even === b || f.odd === b)
    return p === undefined ? `bit${b}` : `${p.name}${b === p.even ? "" : "?"}`
  })
