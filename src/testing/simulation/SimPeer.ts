/**
 * One scripted remote peer of the simulation: it reads what the local node sends on its side of an in-memory peer
 * pair (`MemoryPeer.makePeerPair`, real codec both ways) and answers from its own part of a signed graph, as its
 * `Behaviour` says. Time is Effect's clock (TestClock in the tests): byte budgets and round trips are sleeps, so a
 * run is a deterministic function of the scenario and the seed.
 *
 * Queries are answered one at a time, in order (a peer serves one query per connection at a time, GS-31..41); a
 * dump asked for by a `gossip_timestamp_filter` runs beside them, as the filter processor does (GS-42..45).
 */
import type { Scope } from "effect"
import { Clock, Duration, Effect, FiberHandle, Ref, Stream } from "effect"
import { encodeMessage } from "../../domain/Codec.js"
import { toHex } from "../../domain/Hex.js"
import type {
  ChainHash,
  ChannelAnnouncement,
  ChannelUpdate,
  GossipTimestampFilter,
  Message,
  NodeAnnouncement,
  QueryChannelRange,
  QueryShortChannelIds,
  ReplyChannelRange
} from "../../domain/Messages.js"
import * as RawGossip from "../../domain/RawGossip.js"
import type { ShortChannelId } from "../../domain/ShortChannelId.js"
import * as Scid from "../../domain/ShortChannelId.js"
import type { GraphBatch } from "../../services/GraphStore.js"
import type { Peer } from "../../services/Peer.js"
import type { Behaviour } from "./Behaviour.js"
import { servesAnnouncementOnly } from "./Behaviour.js"

export interface SimPeerOptions {
  readonly chainHash: ChainHash
  /** SCIDs per reply_channel_range (GS-34 says 8,000; smaller makes a few hundred channels take several replies). */
  readonly rangeChunk: number
  /** The simulation's start (epoch ms): trace entries are relative to it. */
  readonly startMillis: number
}

/** What the peer saw and did; the reproducibility checks compare these between runs. */
export interface SimPeerTrace {
  /** `<ms since start> <message>` for every message the local node sent this peer (pings excluded, BOLT 1). */
  readonly received: Ref.Ref<ReadonlyArray<string>>
  /** Messages this peer sent (gossip, replies, pings). */
  readonly sent: Ref.Ref<number>
}

interface Channel {
  readonly announcement: ChannelAnnouncement
  readonly updates: ReadonlyArray<ChannelUpdate>
}

/** The peer's graph, indexed the way its answers need it. */
interface Served {
  readonly channels: ReadonlyMap<ShortChannelId, Channel>
  /** Ascending; what range replies list (Core Lightning leaves out channels without an update). */
  readonly listed: ReadonlyArray<ShortChannelId>
  readonly nodes: ReadonlyMap<string, NodeAnnouncement>
}

const index = (part: GraphBatch, behaviour: Behaviour): Served => {
  const channels = new Map<ShortChannelId, { announcement: ChannelAnnouncement; updates: Array<ChannelUpdate> }>()
  for (const announcement of part.channels) channels.set(announcement.shortChannelId, { announcement, updates: [] })
  for (const u of part.updates) channels.get(u.shortChannelId)?.updates.push(u)
  const listed = [...channels.values()]
    .filter((c) => servesAnnouncementOnly(behaviour) || c.updates.length > 0)
    .map((c) => c.announcement.shortChannelId)
    .sort(Scid.compare)
  return { channels, listed, nodes: new Map(part.nodes.map((n) => [toHex(n.nodeId), n])) }
}

/** BOLT 7 `gossip_timestamp_filter` window: `first_timestamp <= t < first_timestamp + timestamp_range`. */
const inWindow = (f: GossipTimestampFilter, t: number): boolean =>
  f.firstTimestamp <= t && t < f.firstTimestamp + f.timestampRange

/** LDK sends its whole graph to a peer whose filter reaches two weeks back (and nothing from its store otherwise). */
const LDK_FULL_SYNC_SECONDS = 14 * 24 * 3600
/** LDK's BUFFER_DRAIN_MSGS_PER_TICK: gossip messages sent before it waits for a pong. */
const LDK_MESSAGES_PER_PONG = 32
/** A byte budget sends in bursts of at most this much time's worth (the total time stays exact). */
const PACE_QUANTUM_MILLIS = 100
/** Pause between two replies of an endless range-reply stream. */
const ENDLESS_PACE = Duration.millis(10)
/** An endless liar gives up eventually, so a run that survives it can still end quietly. */
const ENDLESS_MAX_REPLIES = 2_000

/** A copy of a signed message with one byte of its (first) signature flipped: well-formed, wrongly signed. */
const forge = (raw: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(raw)
  copy[RawGossip.TYPE + 10] ^= 0x01
  return copy
}

const describe = (m: Message): string => {
  switch (m._tag) {
    case "QueryChannelRange":
      return `query_channel_range ${m.firstBlocknum}+${m.numberOfBlocks}`
    case "QueryShortChannelIds":
      return `query_short_channel_ids ${m.shortIds.ids.length}`
    case "GossipTimestampFilter":
      return `gossip_timestamp_filter ${m.firstTimestamp}+${m.timestampRange}`
    default:
      return m._tag
  }
}

const reply = (
  chainHash: ChainHash,
  first: number,
  last: number,
  ids: ReadonlyArray<ShortChannelId>,
  complete: boolean
): ReplyChannelRange => ({
  _tag: "ReplyChannelRange",
  chainHash,
  firstBlocknum: first,
  numberOfBlocks: last - first + 1,
  syncComplete: complete ? 1 : 0,
  shortIds: { encoding: 0, ids },
  timestamps: undefined,
  checksums: undefined,
  unknownTlvs: []
})

/** GS-33: the query's last block (a zero count means the first block only; saturates at u32). */
const queryLast = (q: QueryChannelRange): number =>
  q.numberOfBlocks === 0 ? q.firstBlocknum : Math.min(q.firstBlocknum + q.numberOfBlocks - 1, 0xffffffff)

/**
 * lnd/CLN style: consecutive replies, each starting where the previous one ended (the next block, or the same block
 * when one block's channels are split), the first at the query's first block, the last at its last block.
 */
const standardReplies = (
  chainHash: ChainHash,
  q: QueryChannelRange,
  ids: ReadonlyArray<ShortChannelId>,
  chunk: number
): ReadonlyArray<ReplyChannelRange> => {
  const last = queryLast(q)
  if (ids.length === 0) return [reply(chainHash, q.firstBlocknum, last, [], true)]
  const out: Array<ReplyChannelRange> = []
  let start = q.firstBlocknum
  for (let at = 0; at < ids.length; at += chunk) {
    const part = ids.slice(at, at + chunk)
    const final = at + chunk >= ids.length
    const end = final ? last : Scid.blockHeight(part[part.length - 1]!)
    out.push(reply(chainHash, start, end, part, final))
    const next = ids[at + chunk]
    start = next !== undefined && Scid.blockHeight(next) === end ? end : end + 1
  }
  return out
}

/**
 * rust-lightning's `handle_query_channel_range`: a non-final reply declares the blocks up to (not including) the
 * block of its last SCID, and the next reply starts at that block.
 */
const ldkReplies = (
  chainHash: ChainHash,
  q: QueryChannelRange,
  ids: ReadonlyArray<ShortChannelId>,
  chunk: number
): ReadonlyArray<ReplyChannelRange> => {
  const last = queryLast(q)
  if (ids.length === 0) return [reply(chainHash, q.firstBlocknum, last, [], true)]
  const out: Array<ReplyChannelRange> = []
  let start = q.firstBlocknum
  for (let at = 0; at < ids.length; at += chunk) {
    const part = ids.slice(at, at + chunk)
    const final = at + chunk >= ids.length
    const lastScidBlock = Scid.blockHeight(part[part.length - 1]!)
    const end = final ? last : lastScidBlock - 1
    out.push(reply(chainHash, start, end, part, final))
    start = lastScidBlock
  }
  return out
}

/** The lies of `LiesInRange`, built from an honest listing split in two halves. */
const lyingReplies = (
  chainHash: ChainHash,
  q: QueryChannelRange,
  ids: ReadonlyArray<ShortChannelId>,
  lie: "gap" | "overlap" | "outside"
): ReadonlyArray<ReplyChannelRange> => {
  const last = queryLast(q)
  const half = Math.max(1, Math.floor(ids.length / 2))
  const [a, b] = [ids.slice(0, half), ids.slice(half)]
  const aEnd = a.length === 0 ? q.firstBlocknum : Scid.blockHeight(a[a.length - 1]!)
  switch (lie) {
    case "gap":
      return [
        reply(chainHash, q.firstBlocknum, aEnd, a, false),
        reply(chainHash, Math.min(aEnd + 2, last), last, b, true)
      ]
    case "overlap":
      return [reply(chainHash, q.firstBlocknum, aEnd, a, false), reply(chainHash, q.firstBlocknum, last, ids, true)]
    case "outside":
      return [
        reply(chainHash, q.firstBlocknum, q.firstBlocknum, ids, false),
        reply(chainHash, q.firstBlocknum + 1, last, [], true)
      ]
  }
}

/**
 * Starts the peer on `peer` (its view of the local node) in the current scope; it stops when the connection ends
 * or the scope closes.
 */
export const start = (
  peer: Peer,
  part: GraphBatch,
  behaviour: Behaviour,
  options: SimPeerOptions
): Effect.Effect<SimPeerTrace, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { chainHash } = options
    const served = index(part, behaviour)
    const received = yield* Ref.make<ReadonlyArray<string>>([])
    const sent = yield* Ref.make(0)
    /** When the outbound byte budget is next free (epoch ms, fractional). */
    const budgetFreeAt = yield* Ref.make(0)
    /** Set once the peer stalls: it never sends again. */
    const stalled = yield* Ref.make(false)
    /** Messages sent in SCID replies so far (StallMidReply, DisconnectMidSync count them). */
    const scidReplyMessages = yield* Ref.make(0)
    const dump = yield* FiberHandle.make()

    const rate = behaviour._tag === "Slow" || behaviour._tag === "ClnLike" ? behaviour.bytesPerSecond : Infinity

    /** The byte budget: a message of `bytes` leaves once the previous ones have, at `rate` bytes per second. */
    const pace = (bytes: number) =>
      rate === Infinity
        ? Effect.void
        : Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const done = yield* Ref.modify(budgetFreeAt, (free) => {
            const end = Math.max(free, now) + (bytes * 1000) / rate
            return [end, end]
          })
          // a sleep per message would cost a scheduler round each: sleep once a quantum of debt has built up
          if (done - now >= PACE_QUANTUM_MILLIS) yield* Effect.sleep(Duration.millis(done - now))
        })

    const send = (m: Message) =>
      Effect.zipRight(pace(encodeMessage(m).length), Effect.zipRight(peer.send(m), Ref.update(sent, (n) => n + 1)))
    const sendGossip = (raw: Uint8Array) => {
      const bytes = behaviour._tag === "InvalidSignatures" ? forge(raw) : raw
      return Effect.zipRight(pace(bytes.length), Effect.zipRight(peer.sendRaw(bytes), Ref.update(sent, (n) => n + 1)))
    }

    /** A channel's messages in BOLT 7 order: the announcement before its updates. */
    const channelMessages = (c: Channel): ReadonlyArray<Uint8Array> => [
      c.announcement.raw,
      ...c.updates.map((u) => u.raw)
    ]

    // --- query_channel_range

    const answerRange = (q: QueryChannelRange) =>
      Effect.gen(function* () {
        const last = queryLast(q)
        const ids = served.listed.filter((s) => {
          const h = Scid.blockHeight(s)
          return q.firstBlocknum <= h && h <= last
        })
        if (behaviour._tag === "LiesInRange" && behaviour.lie === "endless") {
          for (let k = 0; k < ENDLESS_MAX_REPLIES && q.firstBlocknum + k < last; k++) {
            yield* send(reply(chainHash, q.firstBlocknum + k, q.firstBlocknum + k, [], false))
            yield* Effect.sleep(ENDLESS_PACE)
          }
          return
        }
        const replies = behaviour._tag === "LiesInRange" && behaviour.lie !== "endless"
          ? lyingReplies(chainHash, q, ids, behaviour.lie)
          : behaviour._tag === "LdkLike"
          ? ldkReplies(chainHash, q, ids, options.rangeChunk)
          : standardReplies(chainHash, q, ids, options.rangeChunk)
        for (const r of replies) yield* send(r)
      })

    // --- query_short_channel_ids

    /** Counts a SCID-reply message; at the scripted point the peer stalls or hangs up instead of sending it. */
    const scidReplyStep = Effect.gen(function* () {
      const n = yield* Ref.updateAndGet(scidReplyMessages, (k) => k + 1)
      if (behaviour._tag === "StallMidReply" && n > behaviour.afterMessages) {
        yield* Ref.set(stalled, true)
        return false
      }
      if (behaviour._tag === "DisconnectMidSync" && n > behaviour.afterMessages) {
        yield* peer.disconnect("simulated peer hung up mid-sync")
        return false
      }
      return true
    })

    const answerScids = (q: QueryShortChannelIds) =>
      Effect.gen(function* () {
        const nodesSent = new Set<string>() // BOLT 7: each node announcement once per reply
        const messages: Array<Uint8Array> = []
        for (const scid of q.shortIds.ids) {
          const c = served.channels.get(scid)
          if (c === undefined) continue
          messages.push(...channelMessages(c))
          for (const id of [c.announcement.nodeId1, c.announcement.nodeId2]) {
            const hex = toHex(id)
            const node = served.nodes.get(hex)
            if (node !== undefined && !nodesSent.has(hex)) {
              nodesSent.add(hex)
              messages.push(node.raw)
            }
          }
        }
        for (const raw of messages) {
          if (!(yield* scidReplyStep)) return
          yield* sendGossip(raw)
        }
        if (!(yield* scidReplyStep)) return
        yield* send({ _tag: "ReplyShortChannelIdsEnd", chainHash, fullInformation: 1 })
      })

    // --- gossip_timestamp_filter

    /** lnd/CLN: the stored gossip whose timestamps fall in the window (an announcement goes with its updates). */
    const backlog = (f: GossipTimestampFilter) =>
      Effect.gen(function* () {
        for (const scid of served.listed) {
          const c = served.channels.get(scid)!
          const updates = c.updates.filter((u) => inWindow(f, u.timestamp))
          if (updates.length === 0) continue
          for (const raw of [c.announcement.raw, ...updates.map((u) => u.raw)]) yield* sendGossip(raw)
        }
        for (const n of served.nodes.values()) if (inWindow(f, n.timestamp)) yield* sendGossip(n.raw)
      })

    /** LDK: everything, channels then nodes, `LDK_MESSAGES_PER_PONG` messages per ping round trip. */
    const ldkDump = (roundTripMillis: number) =>
      Effect.gen(function* () {
        const all = [
          ...served.listed.flatMap((scid) => channelMessages(served.channels.get(scid)!)),
          ...[...served.nodes.values()].map((n) => n.raw)
        ]
        for (let at = 0; at < all.length; at += LDK_MESSAGES_PER_PONG) {
          for (const raw of all.slice(at, at + LDK_MESSAGES_PER_PONG)) yield* sendGossip(raw)
          // the ping is answered below the Peer layer (BOLT 1), so its pong is modelled as the round trip itself
          yield* send({ _tag: "Ping", numPongBytes: 0, ignored: new Uint8Array(0) })
          yield* Effect.sleep(Duration.millis(roundTripMillis))
        }
      })

    const applyFilter = (f: GossipTimestampFilter) =>
      Effect.gen(function* () {
        if (behaviour._tag === "LdkLike") {
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          if (f.firstTimestamp + LDK_FULL_SYNC_SECONDS > now) return
          const rtt = behaviour.roundTripMillis
          return yield* FiberHandle.run(dump, ldkDump(rtt).pipe(Effect.ignore), { onlyIfMissing: true })
        }
        if (f.timestampRange === 0) return
        yield* FiberHandle.run(dump, backlog(f).pipe(Effect.ignore))
      })

    // --- the loop

    const handle = (m: Message) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(received, (l) => [...l, `${now - options.startMillis} ${describe(m)}`])
        if (behaviour._tag === "Silent" || (yield* Ref.get(stalled))) return
        switch (m._tag) {
          case "QueryChannelRange":
            return yield* answerRange(m)
          case "QueryShortChannelIds":
            if (behaviour._tag === "LdkLike") return // LDK never answers SCID queries
            return yield* answerScids(m)
          case "GossipTimestampFilter":
            return yield* applyFilter(m)
          default:
            return // the node's own gossip, replies, warnings: nothing to answer
        }
      })

    yield* Effect.forkScoped(
      peer.messages.pipe(
        Stream.runForEach(handle),
        Effect.ignore // the connection ended: so does the peer
      )
    )
    return { received, sent }
  })
