/**
 * How a simulated peer behaves, as plain data: the scripted peer (`SimPeer.ts`) interprets it, the network
 * (`Network.ts`) uses it to know what the local graph must converge to. Issue 13 lists these behaviours: the
 * well-behaved ones (honest, slow, LDK-like, Core-Lightning-like) must end with their graph in ours; the others
 * (silent, stalling, lying, forging, disconnecting) must not stop the sync with the rest.
 *
 * Each peer speaks plain BOLT 7 gossip queries (`gossip_queries`, no `gossip_queries_ex`): range replies carry
 * SCIDs only, SCID queries are answered with every message of each channel plus its endpoints' node announcements.
 */

/** Lies in `reply_channel_range` (BOLT 7 "Query Messages"; the checks are GS-12..19). */
export type RangeLie =
  /** The second reply starts two blocks after the first one ended: blocks nobody covered. */
  | "gap"
  /** The second reply starts at the first reply's first block again and repeats its SCIDs. */
  | "overlap"
  /** A reply declares one block but lists SCIDs from far outside it. */
  | "outside"
  /** Non-final replies one block at a time, never reaching the end of the query. */
  | "endless"

export type Behaviour =
  /** Answers every query at once, completely (an lnd/lnsync peer with no rate limit). */
  | { readonly _tag: "Honest" }
  /** Honest, but its outbound bytes go through a budget driven by the clock (lnd's 50 KiB/s per peer, GS-48). */
  | { readonly _tag: "Slow"; readonly bytesPerSecond: number }
  /** Connected, answers pings (below the Peer layer), never answers a query nor a filter. */
  | { readonly _tag: "Silent" }
  /** Answers range queries; sends `afterMessages` messages of its first SCID reply, then never sends again. */
  | { readonly _tag: "StallMidReply"; readonly afterMessages: number }
  /** Answers SCID queries honestly but lies in its range replies. */
  | { readonly _tag: "LiesInRange"; readonly lie: RangeLie }
  /** Serves its graph with every signature broken (one byte flipped): the pipeline rejects and then bans it. */
  | { readonly _tag: "InvalidSignatures" }
  /** Answers range queries; closes the connection after `afterMessages` messages of its first SCID reply. */
  | { readonly _tag: "DisconnectMidSync"; readonly afterMessages: number }
  /**
   * LDK 0.1 as seen from a peer: answers range queries (non-final replies declared one block short), never answers
   * `query_short_channel_ids`, and on a `gossip_timestamp_filter` reaching two weeks back dumps its whole graph, 32
   * messages per ping round trip (LDK's BUFFER_DRAIN_MSGS_PER_TICK: it waits for the pong before sending more).
   */
  | { readonly _tag: "LdkLike"; readonly roundTripMillis: number }
  /**
   * Core Lightning as seen from a peer: its range replies leave out channels it has no channel_update for
   * (announcement-only channels, which it does not consider public yet), and it sends at most `bytesPerSecond`.
   */
  | { readonly _tag: "ClnLike"; readonly bytesPerSecond: number }

export const honest: Behaviour = { _tag: "Honest" }
/** lnd's default per-peer outbound budget (GS-48). */
export const slow: Behaviour = { _tag: "Slow", bytesPerSecond: 50 * 1024 }
export const silent: Behaviour = { _tag: "Silent" }
export const stallMidReply: Behaviour = { _tag: "StallMidReply", afterMessages: 40 }
export const liesInRange = (lie: RangeLie): Behaviour => ({ _tag: "LiesInRange", lie })
export const invalidSignatures: Behaviour = { _tag: "InvalidSignatures" }
export const disconnectMidSync: Behaviour = { _tag: "DisconnectMidSync", afterMessages: 40 }
/** A 20 ms round trip: a nearby peer (on loopback LDK's dump is bounded by its own sending speed instead). */
export const ldkLike: Behaviour = { _tag: "LdkLike", roundTripMillis: 20 }
export const clnLike: Behaviour = { _tag: "ClnLike", bytesPerSecond: 1024 * 1024 }

/** Every behaviour once (lies: each kind), for tests that go through all of them. */
export const all: ReadonlyArray<Behaviour> = [
  honest,
  slow,
  silent,
  stallMidReply,
  liesInRange("gap"),
  liesInRange("overlap"),
  liesInRange("outside"),
  liesInRange("endless"),
  invalidSignatures,
  disconnectMidSync,
  ldkLike,
  clnLike
]

/**
 * Whether the peer's graph (everything it serves, announcement-only channels included: `Network.mustConverge`) must
 * end up in ours: it follows the protocol, however slowly or idiosyncratically. The others may contribute or not; they must only not get in the way.
 */
export const isWellBehaved = (b: Behaviour): boolean =>
  b._tag === "Honest" || b._tag === "Slow" || b._tag === "LdkLike" || b._tag === "ClnLike"

/** Core Lightning does not list channels without a channel_update: they cannot be learnt from it by queries. */
export const servesAnnouncementOnly = (b: Behaviour): boolean => b._tag !== "ClnLike"

/** A short label for test names and reports. */
export const label = (b: Behaviour): string => {
  switch (b._tag) {
    case "Slow":
      return `slow(${Math.round(b.bytesPerSecond / 1024)} KiB/s)`
    case "StallMidReply":
      return `stall(after ${b.afterMessages})`
    case "LiesInRange":
      return `lies(${b.lie})`
    case "DisconnectMidSync":
      return `disconnect(after ${b.afterMessages})`
    case "LdkLike":
      return `ldk(rtt ${b.roundTripMillis} ms)`
    case "ClnLike":
      return `cln(${Math.round(b.bytesPerSecond / 1024)} KiB/s)`
    default:
      return b._tag.toLowerCase()
  }
}
