/**
 * Our historical sync, the SCID phase (GS-21/22, GS-51): `query_short_channel_ids` in batches, one outstanding at a
 * time, each waited for until `reply_short_channel_ids_end`. The router reports gossip for the queried channels
 * into the installed Tracker, which postpones the reply deadline (a big batch may take long to arrive).
 *
 * A peer that does not answer SCID queries (LDK: `handle_query_short_channel_ids` is "Not implemented" and sends
 * nothing) is found in about a second, not at the 2-minute reply timeout (issue 13 item 5): when neither requested
 * gossip nor the end came within `scidFirstAnswerTimeout` of the connection's first SCID query, we send a one-block
 * `query_channel_range` probe. Every implementation answers those (LDK even answers invalid ones), and the peer
 * read our SCID query before it; its answer with still nothing for the SCID query shows a live peer that ignores it.
 * The syncer cannot see pongs (the connection answers and consumes them below `Peer`), hence a range query rather
 * than a ping. A silent peer answers neither and keeps the long timeout; a slow but progressing one resets it with
 * every requested message.
 *
 * Such a peer gets the fallback: a full-dump `gossip_timestamp_filter(0, 0xFFFFFFFF)`, as CLN does with its first
 * peer. Nothing marks the end of a dump, and no barrier exists either: LDK queues its pong (and any reply) ahead of
 * the rest of the dump, which it only refills when its outbound buffer is empty (`peer_handler.rs`
 * `should_buffer_gossip_backfill`), and CLN/lnd answer pings at once too. So the dump ends by its silence, relative
 * to its observed pace: 8 times the longest pause between its gossip runs, at least `dumpQuietMin`, at most
 * `dumpQuietPeriod` (LDK paces its dump 32 messages per ping round trip, so its pauses are one round trip).
 * The peer is remembered as ignoring SCID queries for this connection.
 */
import { Deferred, Duration, Effect, Option, Queue, Ref } from "effect"
import type { PublicKey, QueryChannelRange, QueryShortChannelIds } from "../../../domain/Messages.js"
import * as ShortChannelId from "../../../domain/ShortChannelId.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { Announced, SyncAborted, SyncerContext, Tracker, Wanted } from "./context.js"
import { aborted, enter, fromStore, MAX_NODES_NOT_DELIVERED, nextEvent, nowMillis } from "./context.js"
import { send, sendHorizon } from "./outbound.js"
import type { SharePool } from "./shares.js"
import * as Shares from "./shares.js"
import {
  isActiveSync,
  QUERY_FLAG_ANNOUNCEMENT,
  QUERY_FLAG_NODE_1,
  QUERY_FLAG_NODE_2,
  QUERY_FLAGS_ALL,
  U32_MAX
} from "./rules.js"

/** A dump is over after this many times its longest observed pause without gossip (within the configured bounds). */
export const DUMP_QUIET_PAUSES = 8

const newTracker = (
  wanted: ReadonlyArray<Wanted>,
  at: number,
  collectEndpoints = false,
  nodes: ReadonlyArray<string> = []
): Tracker => ({
  scids: new Set(wanted.map((w) => w.scid)),
  pendingAnnouncements: new Set(
    wanted.filter((w) => w.flags === undefined || (w.flags & QUERY_FLAG_ANNOUNCEMENT) !== 0n).map((w) => w.scid)
  ),
  lastProgress: at,
  progressed: false,
  announced: collectEndpoints ? [] : undefined,
  nodesPending: new Set(nodes),
  heard: false,
  lastHeard: at,
  routing: false,
  maxGap: 0
})

/** The first-answer probe of one SCID phase (at most one per connection: only until the peer answers one). */
interface Probe {
  sentAt: number | undefined
  answered: boolean
}

/** One block (the genesis block, where no channel can be): the cheapest query every implementation answers. */
const probeQuery = (ctx: SyncerContext): QueryChannelRange => ({
  _tag: "QueryChannelRange",
  chainHash: ctx.chainHash,
  firstBlocknum: 0,
  numberOfBlocks: 1,
  queryOption: undefined,
  unknownTlvs: []
})

type ScidOutcome = "answered" | "ignored" | "timedOut"

/**
 * GS-22 + GS-51: wait for reply_short_channel_ids_end. Gossip for a queried channel postpones the deadline. With
 * `detect` (the connection's first SCID query), the first-answer probe described above.
 */
const awaitScidReplyEnd = (ctx: SyncerContext, t: Tracker, probe: Probe, detect: boolean) =>
  Effect.gen(function* () {
    const queriedAt = t.lastProgress
    const firstAnswer = Duration.toMillis(ctx.settings.scidFirstAnswerTimeout)
    while (true) {
      const now = yield* nowMillis
      let wait: number | undefined
      if (Option.isSome(ctx.replyTimeoutMillis)) {
        wait = t.lastProgress + ctx.replyTimeoutMillis.value - now
        if (wait <= 0) return "timedOut" as ScidOutcome
      }
      if (detect && !t.progressed) {
        if (probe.answered) return "ignored" as ScidOutcome
        if (probe.sentAt === undefined) {
          const until = queriedAt + firstAnswer - now
          if (until <= 0) {
            yield* send(ctx, probeQuery(ctx))
            probe.sentAt = now
            continue
          }
          wait = wait === undefined ? until : Math.min(wait, until)
        }
      }
      const event = yield* nextEvent(ctx, wait)
      if (Option.isNone(event)) continue
      if (event.value._tag === "ReplyShortChannelIdsEnd") return "answered" as ScidOutcome
      if (probe.sentAt !== undefined && !probe.answered) {
        probe.answered = true
        continue
      }
      yield* Effect.logDebug("ignoring reply_channel_range while waiting for reply_short_channel_ids_end") // GS-7
    }
  })

/**
 * A probe still unanswered when the phase ends is waited for (bounded by the reply timeout): its reply must not be
 * taken for one to our next range query. A peer that answers in order sends it right after the SCID reply.
 */
const awaitProbeAnswer = (ctx: SyncerContext, probe: Probe) =>
  Effect.gen(function* () {
    if (probe.sentAt === undefined || probe.answered) return
    const deadline = Option.map(ctx.replyTimeoutMillis, (ms) => probe.sentAt! + ms)
    while (true) {
      const wait = Option.isSome(deadline) ? deadline.value - (yield* nowMillis) : undefined
      if (wait !== undefined && wait <= 0) {
        return yield* Effect.logWarning("no reply to our one-block query_channel_range probe")
      }
      const event = yield* nextEvent(ctx, wait)
      if (Option.isSome(event) && event.value._tag === "ReplyChannelRange") return
    }
  })

/** How long a dump must stay silent to be over, from its observed pace. */
const quietNeeded = (ctx: SyncerContext, t: Tracker): number =>
  Math.min(
    Duration.toMillis(ctx.settings.dumpQuietPeriod),
    Math.max(Duration.toMillis(ctx.settings.dumpQuietMin), DUMP_QUIET_PAUSES * t.maxGap)
  )

/**
 * Beyond lnd: the peer did not answer a SCID query (LDK never does). Ask for its whole graph with
 * gossip_timestamp_filter(0, 0xFFFFFFFF), as CLN does with its first peer, and wait for the dump.
 */
export const dumpFallback = (
  ctx: SyncerContext,
  wanted: ReadonlyArray<Wanted>,
  timeoutMillis: number,
  alreadyAnnounced: ReadonlySet<ShortChannelId.ShortChannelId>,
  why: string
): Effect.Effect<void, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    yield* Ref.set(ctx.ignoresScidQueries, true)
    yield* Ref.set(ctx.dumpTaken, true)
    if (wanted.length === 0) {
      // only node announcements were still to come: best effort, not worth a whole dump
      return yield* Effect.logWarning(`${why}: the missing node announcements are not fetched`)
    }
    yield* Effect.logWarning(`${why}: asking for a full dump instead (${wanted.length} channels wanted)`)
    const started = yield* nowMillis
    const firstProgress = yield* Deferred.make<void>()
    const t: Tracker = { ...newTracker(wanted, started), firstProgress }
    for (const scid of alreadyAnnounced) t.pendingAnnouncements.delete(scid)
    yield* Ref.set(ctx.tracker, t)
    yield* sendHorizon(ctx, { firstTimestamp: 0, timestampRange: U32_MAX })
    const cap = Duration.toMillis(ctx.settings.dumpQuietPeriod)
    // the router wakes us on the first wanted message only; after it, look again at least this often (the end is
    // the absence of messages, which nobody can signal), never in a busy loop
    const poll = Math.max(1, Duration.toMillis(ctx.settings.dumpQuietMin))
    while (true) {
      const now = yield* nowMillis
      let wait: number
      if (!t.progressed) {
        if (now - started >= timeoutMillis) {
          return yield* aborted(
            "no reply to query_short_channel_ids and no wanted gossip after gossip_timestamp_filter(0, 0xFFFFFFFF)"
          )
        }
        wait = timeoutMillis - (now - started)
      } else {
        const quietFor = t.routing ? 0 : now - Math.max(t.lastHeard, t.lastProgress)
        if (t.pendingAnnouncements.size === 0) {
          const need = quietNeeded(ctx, t)
          if (quietFor >= need) break
          wait = need - quietFor
        } else {
          // some wanted channels not (yet) in the dump: more patience, bounded by the reply timeout since the
          // last wanted message (a peer streaming only other gossip forever does not hold us)
          const stalledFor = now - t.lastProgress
          if (quietFor >= cap || stalledFor >= timeoutMillis) {
            yield* Effect.logWarning(
              `dump ended with ${t.pendingAnnouncements.size} wanted channel announcements missing`
            )
            break
          }
          wait = Math.min(cap - quietFor, timeoutMillis - stalledFor)
        }
      }
      if (t.progressed) yield* nextEvent(ctx, Math.min(wait, poll)) // drains stray replies too
      else yield* Effect.raceFirst(Effect.asVoid(nextEvent(ctx, wait)), Deferred.await(firstProgress))
    }
  }).pipe(
    // a passive syncer must not keep the dump horizon open (GS-26)
    Effect.ensuring(
      Effect.gen(function* () {
        yield* Ref.set(ctx.tracker, undefined)
        if (wanted.length > 0 && !isActiveSync(yield* Ref.get(ctx.syncType))) {
          yield* sendHorizon(ctx, "passive").pipe(
            Effect.catchAll((e) => Effect.logWarning(`could not close the dump horizon: ${e.reason}`))
          )
        }
      })
    )
  )

/**
 * Extended queries (beyond lnd): the node announcements of the channels announced in reply to the previous
 * query, each node asked for once per sync, by one of its channels. The responder dedupes node announcements
 * only within one reply (BOLT 7), so asking for them with every channel fetched a mainnet node once per batch
 * it has a channel in: ~54,000 node announcements for ~17,000 nodes, a fifth of the whole transfer. Endpoints
 * are unknown until a channel's announcement arrives, hence one query late. Only endpoints `wants` (no
 * announcement stored, not already refused by this peer) are flagged (issue 13 item 6).
 */
const nodeEntries = (
  announced: ReadonlyArray<Announced>,
  asked: Set<string>,
  wants: (hex: string) => boolean,
  room: number
): { readonly entries: Array<Wanted>; readonly nodes: Array<string> } => {
  const entries: Array<Wanted> = []
  const nodes: Array<string> = []
  const byScid = [...announced].sort((a, b) => ShortChannelId.compare(a.scid, b.scid))
  for (const a of byScid) {
    if (entries.length === room) break
    let flags = 0n
    if (!asked.has(a.node1) && wants(a.node1)) {
      flags |= QUERY_FLAG_NODE_1
      asked.add(a.node1)
      nodes.push(a.node1)
    }
    if (!asked.has(a.node2) && wants(a.node2)) {
      flags |= QUERY_FLAG_NODE_2
      asked.add(a.node2)
      nodes.push(a.node2)
    }
    if (flags !== 0n) entries.push({ scid: a.scid, flags })
  }
  return { entries, nodes }
}

const channelFlags = (w: Wanted): bigint => (w.flags ?? QUERY_FLAGS_ALL) & ~(QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2)

/** Looks up `fresh` endpoints (hex → key) and records in `nodeLacks` which have no node announcement stored. */
export const lookUpNodes = (
  ctx: SyncerContext,
  fresh: ReadonlyMap<string, PublicKey>,
  nodeLacks: Map<string, boolean>
): Effect.Effect<void, SyncAborted> =>
  Effect.gen(function* () {
    if (fresh.size === 0) return
    const held = yield* fromStore("node lookup", ctx.store.nodes([...fresh.values()]))
    for (const hex of fresh.keys()) nodeLacks.set(hex, (held.get(hex)?.timestamp ?? 0) === 0)
  })

/** The endpoints of newly announced channels not looked up yet in this sync. */
const lookUpEndpoints = (ctx: SyncerContext, announced: ReadonlyArray<Announced>, nodeLacks: Map<string, boolean>) => {
  const fresh = new Map<string, PublicKey>()
  for (const a of announced) {
    if (!nodeLacks.has(a.node1)) fresh.set(a.node1, a.id1)
    if (!nodeLacks.has(a.node2)) fresh.set(a.node2, a.id2)
  }
  return lookUpNodes(ctx, fresh, nodeLacks)
}

/**
 * A request of the manager's waits in the machine's queue (a queued wake-up, at most one, does not count: it only
 * says that there is work, which a helper is already doing).
 */
const managerRequestWaits = (ctx: SyncerContext): Effect.Effect<boolean> =>
  Effect.map(Queue.size(ctx.requests), (n) => n > (ctx.wakePending.value ? 1 : 0))

/** How a pool's worker ended: everything it could take was settled, or the owner's own query failed. */
export type WorkOutcome =
  | { readonly _tag: "Done" }
  | {
    readonly _tag: "Failed"
    readonly why: string
    readonly timeoutMillis: number
    /** Channels of the failed lease whose announcement did arrive (a dump fallback need not wait for them). */
    readonly announced: ReadonlySet<ShortChannelId.ShortChannelId>
  }

const done: WorkOutcome = { _tag: "Done" }

/** The query for one lease: its node entries (from the previous lease) and its channels, in ascending SCID order. */
const leaseQuery = (
  ctx: SyncerContext,
  nodes: ReadonlyArray<Wanted>,
  items: ReadonlyArray<Wanted>
): QueryShortChannelIds => {
  const entries = [
    ...nodes.map((w) => ({ scid: w.scid, flags: w.flags ?? 0n })),
    ...items.map((w) => ({
      scid: w.scid,
      flags: channelFlags(w)
    }))
  ].sort((a, b) => ShortChannelId.compare(a.scid, b.scid))
  return {
    _tag: "QueryShortChannelIds",
    chainHash: ctx.chainHash,
    shortIds: { encoding: 0, ids: entries.map((e) => e.scid) },
    queryFlags: ctx.extended ? { encoding: 0, flags: entries.map((e) => e.flags) } : undefined,
    unknownTlvs: []
  }
}

/**
 * GS-21/22 over a pool (shares.ts): one lease outstanding at a time, as the owner of the pool (the historical sync's
 * own SCID phase) or as a helper. The owner also waits for its helpers' leases, takes back what they answered
 * without, and then asks for `tail`: known channels lacking a node announcement, in node-only queries after the
 * channels. Node entries ride with the next lease; they come from the previous one's announcements (endpoints are
 * unknown until a channel's announcement arrives). Every lease is settled or given back on every exit, an
 * interruption included (a helper whose peer disconnects gives its lease back for someone else).
 */
export const workPool = (
  ctx: SyncerContext,
  pool: SharePool,
  probe: Probe,
  tail: ReadonlyArray<Announced> = []
): Effect.Effect<WorkOutcome, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    const { extended, settings } = ctx
    const isOwner = ctx.peerId === pool.owner
    const wantsNode = (hex: string) => pool.nodeLacks.get(hex) === true && !ctx.nodesNotDelivered.has(hex)
    let announced: ReadonlyArray<Announced> = []
    let tailAt = 0
    // a helper with a manager request waiting takes no more channels; it only sends the node entries it owes
    let stopping = false
    while (true) {
      if (isOwner) yield* enter(ctx, "queryNewChannels")
      else if (!stopping && (yield* managerRequestWaits(ctx))) stopping = true
      if (extended && announced.length > 0) yield* lookUpEndpoints(ctx, announced, pool.nodeLacks)
      const nodes = extended
        ? nodeEntries(announced, pool.nodesAsked, wantsNode, settings.batchSize)
        : { entries: [], nodes: [] }
      announced = []
      const room = Shares.leaseRoom(pool, settings.batchSize, ctx.leasePace) - nodes.entries.length
      const lease = (stopping ? undefined : Shares.take(pool, ctx.peerId, room)) ??
        (nodes.entries.length > 0 ? Shares.openLease(pool, ctx.peerId, []) : undefined) ??
        (stopping ? undefined : Shares.takeOver(pool, ctx.peerId, yield* nowMillis))
      if (lease === undefined) {
        if (!isOwner || pool.closed) return done
        if (!Shares.drained(pool)) {
          // helpers' leases are out: wait for one to settle (it may bring back channels only we can fetch), and
          // look again now and then for one that stalled
          yield* Effect.timeout(Queue.take(pool.signal), Duration.millis(Shares.STALL_MILLIS / 2)).pipe(Effect.ignore)
          continue
        }
        if (tailAt >= tail.length) return done
        announced = tail.slice(tailAt, tailAt + settings.batchSize)
        tailAt += settings.batchSize
        continue
      }
      const outcome = yield* runLease(ctx, pool, lease, nodes, probe)
      if (outcome._tag === "Failed") return outcome
      announced = outcome.announced
    }
  })

/** One lease: query, reply, settlement (GS-21/22, GS-51), with the lease given back if anything cuts it short. */
const runLease = (
  ctx: SyncerContext,
  pool: SharePool,
  lease: Shares.Lease,
  nodes: { readonly entries: ReadonlyArray<Wanted>; readonly nodes: ReadonlyArray<string> },
  probe: Probe
): Effect.Effect<
  | { readonly _tag: "Answered"; readonly announced: ReadonlyArray<Announced> }
  | Extract<WorkOutcome, { _tag: "Failed" }>,
  PeerDisconnected
> => {
  const isOwner = ctx.peerId === pool.owner
  // a helper's counts go to the owner's account as well (its own are reset by its next sync)
  const before = { ...ctx.counts }
  const addToOwner = Effect.sync(() => {
    if (isOwner) return
    for (const k of Object.keys(before) as Array<keyof typeof before>) pool.ownerCounts[k] += ctx.counts[k] - before[k]
  })
  return Effect.gen(function* () {
    ctx.counts.nodesRequested += nodes.nodes.length
    const started = yield* nowMillis
    const t = newTracker(lease.items, started, ctx.extended, nodes.nodes)
    lease.tracker = t
    // a revocation ends our wait at once, as an end would (the check below tells them apart)
    lease.wake = () => {
      Queue.unsafeOffer(ctx.events, { _tag: "ReplyShortChannelIdsEnd", chainHash: ctx.chainHash, fullInformation: 0 })
    }
    yield* Ref.set(ctx.tracker, t)
    if (isOwner) yield* enter(ctx, "waitingQueryChanReply") // GS-21: before the send
    yield* send(ctx, leaseQuery(ctx, nodes.entries, lease.items))
    // lnd mode (no reply timeout) waits as lnd does, without probing
    const detect = Option.isSome(ctx.replyTimeoutMillis) && !(yield* Ref.get(ctx.answersScidQueries))
    const outcome = yield* awaitScidReplyEnd(ctx, t, probe, detect)
    yield* Ref.set(ctx.tracker, undefined)
    const role = isOwner ? "owner" : "helper"
    if (lease.revoked) {
      yield* Shares.countLease(role, "taken_over", lease.items.length)
      Shares.giveBack(pool, lease, true) // bars this helper: its lease was taken over
      const why = `no progress for ${Shares.STALL_MILLIS / 1000} s: its lease was taken over`
      return { _tag: "Failed" as const, why, timeoutMillis: 0, announced: new Set<ShortChannelId.ShortChannelId>() }
    }
    if (outcome === "answered") {
      yield* Shares.countLease(role, "answered", lease.items.length)
      yield* Ref.set(ctx.answersScidQueries, true)
      Shares.settle(pool, lease, lease.items.filter((w) => t.pendingAnnouncements.has(w.scid)))
      if (lease.items.length > 0) {
        const seconds = Math.max(1, (yield* nowMillis) - started) / 1000
        ctx.leasePace.itemsPerSecond = lease.items.length / seconds
        ctx.leasePace.lastSize = lease.items.length
      }
      // item 6: what this peer was asked for and did not send is not asked of it again on this connection
      for (const hex of t.nodesPending) {
        if (ctx.nodesNotDelivered.size >= MAX_NODES_NOT_DELIVERED) break
        ctx.nodesNotDelivered.add(hex)
      }
      return { _tag: "Answered" as const, announced: t.announced ?? [] }
    }
    yield* Shares.countLease(role, "failed", lease.items.length)
    Shares.giveBack(pool, lease, true)
    const timeoutMillis = Option.getOrThrow(ctx.replyTimeoutMillis) // "answered" is the only outcome without one
    if (outcome === "ignored") yield* Ref.set(ctx.ignoresScidQueries, true)
    const why = outcome === "ignored"
      ? `the peer answered a query_channel_range probe but nothing of query_short_channel_ids within ${
        Duration.format(ctx.settings.scidFirstAnswerTimeout)
      }`
      : `no reply_short_channel_ids_end within ${timeoutMillis} ms`
    const announced = new Set([...t.scids].filter((scid) => !t.pendingAnnouncements.has(scid)))
    return { _tag: "Failed" as const, why, timeoutMillis, announced }
  }).pipe(
    // cut short (a disconnect, an interruption): back to the pool unless settled; such a worker is gone anyway
    Effect.ensuring(
      Effect.zipRight(addToOwner, Effect.sync(() => Shares.giveBack(pool, lease, false)))
    )
  )
}

/**
 * GS-21/22 with a pool of our own (the historical sync's SCID phase): the owner works its pool, with helpers when it
 * is shared. When its own peer does not answer (LDK never does, or it times out), no more leases go out, the
 * helpers' leases settle, and whatever is still wanted comes by the dump fallback instead.
 */
export const queryChannels = (
  ctx: SyncerContext,
  pool: SharePool,
  missingNodes: ReadonlyArray<Announced>
): Effect.Effect<void, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    const probe: Probe = { sentAt: undefined, answered: false }
    const outcome = yield* workPool(ctx, pool, probe, missingNodes)
    if (outcome._tag === "Done") return yield* awaitProbeAnswer(ctx, probe)
    yield* Shares.close(ctx.shared.board, pool)
    while (pool.leases.size > 0) yield* Queue.take(pool.signal)
    return yield* dumpFallback(ctx, Shares.unleased(pool), outcome.timeoutMillis, outcome.announced, outcome.why)
  })

/**
 * Issue 18: an idle syncer helps whichever initial sync in progress has work for it (shares.ts), lease by lease,
 * until none has, a manager request waits, or its peer turns out not to answer SCID queries. Its GS-2 state does not
 * change; the router hands it the SCID replies while `helping` is set.
 */
export const help = (ctx: SyncerContext): Effect.Effect<void, PeerDisconnected> => {
  const pick = (): SharePool | undefined => {
    for (const pool of ctx.shared.board.pools) {
      if (pool.extended === ctx.extended && Shares.hasWorkFor(pool, ctx.peerId)) return pool
    }
    return undefined
  }
  if (!ctx.peer.gossipQueries || pick() === undefined) return Effect.void
  return Effect.gen(function* () {
    const probe: Probe = { sentAt: undefined, answered: false }
    let helping = false
    let failed = false
    while (!(yield* Ref.get(ctx.ignoresScidQueries)) && !(yield* managerRequestWaits(ctx))) {
      const pool = pick()
      if (pool === undefined) break
      if (!helping) {
        helping = true
        yield* Queue.takeAll(ctx.events) // stray replies must not count for our queries
        yield* Ref.set(ctx.helping, true)
        yield* Effect.logDebug("helping an initial sync").pipe(Effect.annotateLogs("owner", pool.owner))
      }
      const outcome = yield* workPool(ctx, pool, probe).pipe(
        Effect.catchTag("SyncAborted", (e) =>
          Effect.as(
            Effect.sync(() => pool.barred.add(ctx.peerId)),
            { _tag: "Failed", why: e.reason, timeoutMillis: 0, announced: new Set() } as const
          ))
      )
      if (outcome._tag === "Failed") {
        failed = true
        yield* Effect.logInfo(`stopped helping an initial sync: ${outcome.why}`).pipe(
          Effect.annotateLogs("owner", pool.owner)
        )
      }
    }
    // a peer that failed its lease (silent, stalled) will not answer the probe either: waiting for that would keep
    // this syncer busy for a whole reply timeout (its own syncs, the Reconciler's, wait behind it)
    if (helping && !failed) yield* awaitProbeAnswer(ctx, probe)
  }).pipe(Effect.ensuring(Effect.zipRight(Ref.set(ctx.tracker, undefined), Ref.set(ctx.helping, false))))
}
