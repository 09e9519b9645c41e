/**
 * The parallel initial sync (issue 18; beyond lnd, CLN, Eclair and LDK, which each take a whole initial sync from
 * one peer). lnd serves gossip at about 50 KiB/s per peer by default, so a mainnet initial sync from one lnd peer
 * takes at least ~400 s however fast the client is; split across eight peers it takes an eighth of that.
 *
 * The initial historical syncer (the SyncManager still picks it, SM-17, and which peers are active is untouched)
 * is the pool's owner: it publishes what its range replies make it want (GS-20) as each reply arrives, and every
 * other idle syncer whose peer answers SCID queries helps by taking leases, slices of the wanted SCIDs it fetches
 * from its own peer with `query_short_channel_ids` (GS-21/22 as for the owner's batches: one outstanding per peer,
 * the same query flags, GS-51's reply timeout). Leases are sized to about `LEASE_SECONDS` of the taker's measured
 * pace, so a fast peer takes more and a slow one less, and the tail after the last lease stays short.
 *
 * Failures move work, never lose it: a lease whose helper fails (reply timeout, a peer that ignores SCID queries,
 * a disconnect) goes back to the pool for someone else, and the helper is barred from the pool; channels a helper
 * answered without go back for the owner alone, which listed them. Node announcements are asked for once across
 * everyone (`nodesAsked`, `nodeLacks`). The owner's sync ends only when every lease is settled, so the graph-synced
 * signal (SM-20) still means that every wanted channel was asked for and what arrived was flushed.
 *
 * A pool is shared only during the initial sync (the graph not synced yet): later historical syncs, the
 * Reconciler's included, ask a peer for what that peer listed, which others may not have.
 *
 * Every function here is synchronous over plain mutable records (one JavaScript thread: each call is atomic); the
 * waits are the owner's on `signal` and the helpers' wake-ups through their request queues.
 */
import { Effect, Metric, Queue } from "effect"
import type { MutableSyncCounts, Tracker, Wanted } from "./context.js"

/** A lease aims at this many seconds of the taker's pace (short tails, yet few round trips). */
export const LEASE_SECONDS = 2
/** A taker's first lease, before its pace is known; each lease may at most double the one before (slow start). */
export const FIRST_LEASE = 50
/** The smallest lease (round trips would dominate below it). */
export const MIN_LEASE = 10
/**
 * A lease whose peer sent nothing it asked for in this long is stalled: an idle worker takes over what it still
 * lacks, so one silent helper holds the initial sync up for seconds, not for its whole reply timeout (GS-51).
 */
export const STALL_MILLIS = 10_000

/**
 * `/metrics` (Effect `Metric`, served by src/services/Metrics.ts): leases by `role` (owner, helper) and `outcome`
 * (answered, failed, taken_over), and the channels leases asked for; an operator sees how an initial sync was
 * shared and which peers let it down.
 */
export const ShareMetrics = {
  leases: Metric.counter("lnsync_sync_leases", {
    description: "leases of the parallel initial sync, by role and outcome"
  }),
  leaseChannels: Metric.counter("lnsync_sync_lease_channels", {
    description: "channels asked for in leases of the parallel initial sync, by role"
  })
} as const

/** Counts one settled lease (`outcome`) of `role`. */
export const countLease = (role: "owner" | "helper", outcome: "answered" | "failed" | "taken_over", channels: number) =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(Metric.tagged(ShareMetrics.leases, "role", role), "outcome", outcome)),
    Metric.incrementBy(Metric.tagged(ShareMetrics.leaseChannels, "role", role), channels)
  )

/** A slice of the pool's wanted SCIDs one worker is fetching. */
export interface Lease {
  readonly id: number
  readonly worker: string
  readonly items: ReadonlyArray<Wanted>
  /** The lease's query in flight (its progress), once sent. */
  tracker: Tracker | undefined
  /** Taken over by another worker (`takeOver`): its holder stops waiting and takes no more. */
  revoked: boolean
  /** Wakes the holder's wait for its reply (set by the holder once it waits). */
  wake: (() => void) | undefined
}

export interface SharePool {
  readonly owner: string
  /** The owner's peer speaks extended queries: the items carry query flags, so helpers must speak them too. */
  readonly extended: boolean
  /** Published for helpers (the initial sync); otherwise the owner works it alone. */
  readonly shared: boolean
  /** Published in ascending SCID order as the owner's range replies arrive; `next` is the first not leased. */
  readonly items: Array<Wanted>
  next: number
  /** Given back by a helper that failed: anyone not barred takes these first. */
  readonly returned: Array<Wanted>
  /** Answered without by a helper: only the owner, which listed them, is asked for these. */
  readonly ownerOnly: Array<Wanted>
  readonly leases: Map<number, Lease>
  nextLease: number
  /** The owner's range replies are all in: nothing more will be published. */
  complete: boolean
  /** No lease is handed out any more: the owner's sync ended, failed, or fell back to a dump. */
  closed: boolean
  /** Helpers that failed a lease of this pool. */
  readonly barred: Set<string>
  /** Everyone who took a lease of this pool (the share of what is left a lease may take is one in this many). */
  readonly workers: Set<string>
  /** Node ids asked for by anyone in this sync (one ask per node, not one per peer). */
  readonly nodesAsked: Set<string>
  /** Endpoints looked up in the store in this sync: hex → no announcement stored. */
  readonly nodeLacks: Map<string, boolean>
  /** The owner's counts: helpers add what their leases received, so the owner's account is the whole sync's. */
  readonly ownerCounts: MutableSyncCounts
  /** Offered (sliding, one slot) at every settlement: the owner waits on it for its helpers. */
  readonly signal: Queue.Queue<void>
}

/** The factory's pools in progress and its idle syncers' wake-ups (one board per factory, in `SyncerShared`). */
export interface ShareBoard {
  readonly pools: Set<SharePool>
  /** Idle syncers, by peer: a wake-up puts a request in the syncer's queue so its machine looks for work. */
  readonly wakers: Map<string, () => void>
}

export const makeBoard = (): ShareBoard => ({ pools: new Set(), wakers: new Map() })

export const makePool = (
  owner: string,
  extended: boolean,
  shared: boolean,
  ownerCounts: MutableSyncCounts
): Effect.Effect<SharePool> =>
  Effect.map(Queue.sliding<void>(1), (signal) => ({
    owner,
    extended,
    shared,
    items: [],
    next: 0,
    returned: [],
    ownerOnly: [],
    leases: new Map(),
    nextLease: 0,
    complete: false,
    closed: false,
    barred: new Set(),
    workers: new Set([owner]),
    nodesAsked: new Set(),
    nodeLacks: new Map(),
    ownerCounts,
    signal
  }))

const wakeAll = (board: ShareBoard): void => {
  for (const wake of board.wakers.values()) wake()
}

const signal = (pool: SharePool): void => {
  Queue.unsafeOffer(pool.signal, undefined)
}

/** Lists the pool on the board (a shared pool only) and tells the idle syncers. */
export const open = (board: ShareBoard, pool: SharePool): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!pool.shared) return
    board.pools.add(pool)
    wakeAll(board)
  })

/** No more leases; the pool leaves the board. Leases out keep running and settle as usual. */
export const close = (board: ShareBoard, pool: SharePool): Effect.Effect<void> =>
  Effect.sync(() => {
    pool.closed = true
    board.pools.delete(pool)
    signal(pool)
  })

/** More wanted SCIDs from the owner's latest range reply (ascending, after every earlier one). */
export const publish = (board: ShareBoard, pool: SharePool, items: ReadonlyArray<Wanted>): Effect.Effect<void> =>
  Effect.sync(() => {
    if (items.length === 0) return
    for (const w of items) pool.items.push(w)
    if (pool.shared && !pool.closed) wakeAll(board)
  })

/** The owner's range replies are all in. */
export const markComplete = (pool: SharePool): Effect.Effect<void> =>
  Effect.sync(() => {
    pool.complete = true
    signal(pool)
  })

/** What is still to be fetched by someone (for a fallback, and `pendingScids`). */
export const unleased = (pool: SharePool): Array<Wanted> => [
  ...pool.returned,
  ...pool.items.slice(pool.next),
  ...pool.ownerOnly
]

export const unleasedCount = (pool: SharePool): number =>
  pool.returned.length + (pool.items.length - pool.next) + pool.ownerOnly.length

/** Whether `worker` (not the owner) could take a lease now. */
export const hasWorkFor = (pool: SharePool, worker: string): boolean =>
  !pool.closed && worker !== pool.owner && !pool.barred.has(worker) &&
  (pool.returned.length > 0 || pool.next < pool.items.length)

/** Every lease settled and nothing left: the owner's SCID phase is over. */
export const drained = (pool: SharePool): boolean =>
  pool.complete && pool.leases.size === 0 && unleasedCount(pool) === 0

/**
 * Up to `room` items for `worker`, as a lease (none when there is nothing for it). The owner takes what helpers
 * answered without first (only it can fetch those), then like everyone: returned shares, then the next published.
 */
export const take = (pool: SharePool, worker: string, room: number): Lease | undefined => {
  if (pool.closed || room <= 0) return undefined
  const isOwner = worker === pool.owner
  if (!isOwner && pool.barred.has(worker)) return undefined
  const items: Array<Wanted> = []
  if (isOwner) items.push(...pool.ownerOnly.splice(0, room))
  if (items.length < room) items.push(...pool.returned.splice(0, room - items.length))
  if (items.length < room && pool.next < pool.items.length) {
    const end = Math.min(pool.items.length, pool.next + room - items.length)
    for (let i = pool.next; i < end; i++) items.push(pool.items[i]!)
    pool.next = end
  }
  return items.length === 0 ? undefined : openLease(pool, worker, items)
}

/**
 * When nothing else is left: a helper's stalled lease (STALL_MILLIS without progress at `nowMillis`), whole, as a
 * lease for `worker` — whole, because nothing tells which of a channel's updates a peer that stopped mid-reply still
 * owed (plain queries do not say how many there are). The stalled lease leaves the pool and is revoked: its holder
 * stops waiting and helps no more, so the sync's end does not wait for it and the peer is free for its own syncs.
 * The owner's own leases are not taken over: a stalled owner fails by its reply timeout (GS-51) and the
 * SyncManager moves the initial sync elsewhere, as without helpers.
 */
export const takeOver = (pool: SharePool, worker: string, nowMillis: number): Lease | undefined => {
  if (pool.closed || (worker !== pool.owner && pool.barred.has(worker))) return undefined
  for (const stalled of pool.leases.values()) {
    const t = stalled.tracker
    if (stalled.worker === worker || stalled.worker === pool.owner) continue
    if (t === undefined || nowMillis - t.lastProgress < STALL_MILLIS) continue
    pool.leases.delete(stalled.id)
    stalled.revoked = true
    stalled.wake?.()
    if (stalled.items.length > 0) return openLease(pool, worker, stalled.items)
  }
  return undefined
}

/** A lease with no items (node announcements only): registered so the owner waits for it too. */
export const openLease = (pool: SharePool, worker: string, items: ReadonlyArray<Wanted>): Lease => {
  pool.workers.add(worker)
  const lease: Lease = {
    id: pool.nextLease++,
    worker,
    items, // in no particular order: the query sorts what it asks for (scidQueries.ts `leaseQuery`)
    tracker: undefined,
    revoked: false,
    wake: undefined
  }
  pool.leases.set(lease.id, lease)
  return lease
}

/**
 * The lease's reply ended. `undelivered`: wanted announcements the peer answered without; a helper's go to the
 * owner (which listed them), the owner's own are given up (it listed them and did not send them, as without a pool).
 */
export const settle = (pool: SharePool, lease: Lease, undelivered: ReadonlyArray<Wanted>): void => {
  if (!pool.leases.delete(lease.id)) return
  if (lease.worker !== pool.owner) { for (const w of undelivered) pool.ownerOnly.push(w) }
  signal(pool)
}

/**
 * The lease failed before its reply ended (timeout, ignored, disconnect): it goes back whole for anyone else (which
 * of a channel's updates were still owed nobody can tell, see `takeOver`), and a failed helper takes no more leases
 * from this pool.
 */
export const giveBack = (pool: SharePool, lease: Lease, bar: boolean): void => {
  if (bar && lease.worker !== pool.owner) pool.barred.add(lease.worker)
  if (!pool.leases.delete(lease.id)) return
  for (const w of lease.items) pool.returned.push(w)
  signal(pool)
}

/** A taker's pace: SCIDs per second its peer delivered in its last lease, and that lease's size. */
export interface LeasePace {
  itemsPerSecond: number | undefined
  lastSize: number
}

/**
 * Items for a taker's next lease: `LEASE_SECONDS` of its last pace, growing at most twofold per lease, and never
 * more than an equal share of what is left among the pool's workers (guided self-scheduling: near the end leases
 * shrink, so everyone finishes together). The first leases of a rate-limited peer come out of its burst allowance
 * (lnd's, and the bench's, is one large message's worth or more) and look several times faster than the peer's
 * steady pace; the growth cap keeps such a lease from becoming a long tail.
 */
export const leaseRoom = (pool: SharePool, batchSize: number, pace: LeasePace): number => {
  if (!pool.shared) return batchSize
  const share = Math.max(MIN_LEASE, Math.ceil(unleasedCount(pool) / pool.workers.size))
  if (pace.itemsPerSecond === undefined) return Math.min(batchSize, FIRST_LEASE, share)
  const cap = Math.min(batchSize, 2 * Math.max(pace.lastSize, FIRST_LEASE), share)
  return Math.max(MIN_LEASE, Math.min(cap, Math.round(pace.itemsPerSecond * LEASE_SECONDS)))
}
