/**
 * The asynchronous funding check (issue 15; LDK's way, BOLT 7's rule). A chain-backed source may take seconds or
 * be down, so its lookups never run on the validating fiber: an announcement whose four signatures hold is parked
 * here (verdict Premature, no blame) and its updates and node announcements wait in the premature caches as for any
 * channel not announced yet, while gossip for every other channel goes on. Workers (fibers of the pipeline's Scope)
 * take parked announcements in chunks, ask the source (which groups them per block, many blocks per request),
 * retry with capped backoff while it is unavailable, then put each announcement back into the inbox with its
 * result: settling uses the result in place of a lookup, the channel is accepted (or refused, with blame for a
 * wrong output) and the premature caches release its updates as usual.
 *
 * Bounds: at most `pendingLimit` parked (a full queue makes the validator wait: backpressure, never a drop);
 * re-entries bypass the intake permits (taking permits there could deadlock against a validator waiting for queue
 * room) and are bounded by the queue itself plus the chunks in the workers' hands. Invalid results are remembered
 * (negative cache, expiring); valid ones need no cache, the store holds the channel.
 *
 * Keys are the SHA-256 of the announcement's raw bytes (signatures included), so a result recorded for one
 * message is never applied to other bytes.
 */
import { createHash } from "node:crypto"
import { Clock, Effect, Queue, Schedule, Stream, SubscriptionRef } from "effect"
import type { Scope } from "effect"
import { sameBytes } from "../../../domain/Bytes.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { AsyncCheckOptions, ChainSourceService, FundingCheck } from "../../ChainSource.js"
import type { Job } from "./context.js"
import type { Held, PrematureNodes, PrematureUpdates } from "./state.js"

export interface Parked {
  readonly key: string
  readonly msg: ChannelAnnouncement
  readonly peer: string
}

/** The check's bounded state (owned by the validator fiber, but for what the workers record after a lookup). */
export interface FundingState {
  readonly options: AsyncCheckOptions
  readonly queue: Queue.Queue<Parked>
  /** Keys parked or being looked up: a second copy of the same bytes is not queued twice. */
  readonly waiting: Set<string>
  /** Results awaiting their announcement's re-entry. */
  readonly resolved: Map<string, FundingCheck>
  /** Invalid results by key, with their expiry (unix millis); insertion order is age order. */
  readonly negative: Map<string, { readonly check: FundingCheck; readonly until: number }>
  /** Channels parked or awaiting re-entry, with their nodes (hex): what the holds below are for. */
  readonly parked: Map<ShortChannelId, { readonly node1: string; readonly node2: string }>
  /** Parked channels per node. */
  readonly parkedNodes: Map<string, number>
  /**
   * Updates and node announcements waiting for a parked channel. Held here, not in the premature caches: a sync
   * parks thousands of channels at once, far more than those caches hold, and these must not be lost. Bounded by
   * the parked channels: at most `HELD_PER_CHANNEL` updates per channel, the newest announcement per node.
   */
  readonly heldUpdates: Map<ShortChannelId, Array<Held<ChannelUpdate>>>
  readonly heldNodes: Map<string, Held<NodeAnnouncement>>
  /** Bumped after each settled batch and each worker chunk: `flush` waits on it for parked announcements. */
  readonly progress: SubscriptionRef.SubscriptionRef<number>
}

/**
 * Waits until every announcement parked or awaiting re-entry now has been settled (its re-entry batch handed to
 * the writer): `flush` then waits for that batch's write, so "everything submitted before is written or rejected"
 * holds for parked announcements too (a sync is not complete while its channels wait on the chain source).
 */
export const awaitParked = (state: FundingState | undefined): Effect.Effect<void> => {
  if (state === undefined || (state.waiting.size === 0 && state.resolved.size === 0)) return Effect.void
  const keys = [...state.waiting, ...state.resolved.keys()]
  const done = () => keys.every((k) => !state.waiting.has(k) && !state.resolved.has(k))
  return Stream.runDrain(Stream.takeUntil(state.progress.changes, done))
}

export const bump = (state: FundingState | undefined): Effect.Effect<void> =>
  state === undefined ? Effect.void : SubscriptionRef.update(state.progress, (n) => n + 1)

const HELD_PER_CHANNEL = 4

/** Holds `msg` if its channel is parked; false if not (the caller uses the premature cache). */
export const holdUpdate = (state: FundingState | undefined, msg: ChannelUpdate, peer: string, now: number): boolean => {
  if (state === undefined || !state.parked.has(msg.shortChannelId)) return false
  const list = state.heldUpdates.get(msg.shortChannelId) ?? []
  if (!list.some((h) => sameBytes(h.msg.raw, msg.raw))) list.push({ msg, peer, atMillis: now })
  list.sort((x, y) => y.msg.timestamp - x.msg.timestamp)
  if (list.length > HELD_PER_CHANNEL) list.length = HELD_PER_CHANNEL
  state.heldUpdates.set(msg.shortChannelId, list)
  return true
}

/** Holds `msg` if one of its node's channels is parked (the newest kept); false if not. */
export const holdNode = (
  state: FundingState | undefined,
  hex: string,
  msg: NodeAnnouncement,
  peer: string,
  now: number
): boolean => {
  if (state === undefined || !state.parkedNodes.has(hex)) return false
  const old = state.heldNodes.get(hex)
  if (old === undefined || old.msg.timestamp < msg.timestamp) state.heldNodes.set(hex, { msg, peer, atMillis: now })
  return true
}

export const takeHeldUpdates = (
  state: FundingState | undefined,
  scid: ShortChannelId
): ReadonlyArray<Held<ChannelUpdate>> => {
  const list = state?.heldUpdates.get(scid)
  if (list === undefined) return []
  state?.heldUpdates.delete(scid)
  return list
}

export const takeHeldNode = (state: FundingState | undefined, hex: string): Held<NodeAnnouncement> | undefined => {
  const held = state?.heldNodes.get(hex)
  if (held !== undefined) state?.heldNodes.delete(hex)
  return held
}

const park = (state: FundingState, msg: ChannelAnnouncement, node1: string, node2: string): void => {
  if (state.parked.has(msg.shortChannelId)) return
  state.parked.set(msg.shortChannelId, { node1, node2 })
  for (const n of [node1, node2]) state.parkedNodes.set(n, (state.parkedNodes.get(n) ?? 0) + 1)
}

/**
 * The channel's result was used (or is no longer needed): its holds go back to the premature caches (they are
 * taken from there if the channel is accepted in this batch; otherwise they age out like every other premature message).
 */
export const unpark = (
  state: FundingState | undefined,
  scid: ShortChannelId,
  premature: { readonly updates: PrematureUpdates; readonly nodes: PrematureNodes },
  now: number
): void => {
  const p = state?.parked.get(scid)
  if (state === undefined || p === undefined) return
  state.parked.delete(scid)
  for (const h of takeHeldUpdates(state, scid)) premature.updates.add(h.msg, h.peer, now)
  for (const n of [p.node1, p.node2]) {
    const left = (state.parkedNodes.get(n) ?? 1) - 1
    if (left > 0) {
      state.parkedNodes.set(n, left)
      continue
    }
    state.parkedNodes.delete(n)
    const held = takeHeldNode(state, n)
    if (held !== undefined) premature.nodes.add(n, held.msg, held.peer, now)
  }
}

export const keyOf = (msg: ChannelAnnouncement): string => createHash("sha256").update(msg.raw).digest("hex")

export const makeFundingState = (
  chain: ChainSourceService
): Effect.Effect<FundingState | undefined, never, Scope.Scope> =>
  chain.asyncCheck === undefined || chain.kind === "none" || chain.kind === undefined
    ? Effect.succeed(undefined)
    : withOptions(chain.asyncCheck)

const withOptions = (options: AsyncCheckOptions): Effect.Effect<FundingState, never, Scope.Scope> =>
  Effect.zipWith(
    Effect.acquireRelease(Queue.bounded<Parked>(options.pendingLimit), Queue.shutdown),
    SubscriptionRef.make(0),
    (queue, progress) => ({
      progress,
      options,
      queue,
      waiting: new Set(),
      resolved: new Map(),
      negative: new Map(),
      parked: new Map(),
      parkedNodes: new Map(),
      heldUpdates: new Map(),
      heldNodes: new Map()
    })
  )

/** What settling does with a signed announcement: a result (resolved or cached) or "parked" (answer later). */
export type FundingLookup = FundingCheck | "parked"

/**
 * The result for `msg` if one is known; otherwise parks it (waiting for queue room if the queue is full) and
 * answers "parked".
 */
export const lookupOrPark = (
  state: FundingState,
  msg: ChannelAnnouncement,
  peer: string,
  now: number,
  nodes: readonly [string, string]
): Effect.Effect<FundingLookup> => {
  const key = keyOf(msg)
  const resolved = state.resolved.get(key)
  if (resolved !== undefined) {
    state.resolved.delete(key)
    // the holds were taken into this batch when it was grouped; the channel is no longer parked
    state.parked.delete(msg.shortChannelId)
    for (const n of nodes) {
      const left = (state.parkedNodes.get(n) ?? 1) - 1
      if (left > 0) state.parkedNodes.set(n, left)
      else state.parkedNodes.delete(n)
    }
    return Effect.succeed(resolved)
  }
  const cached = state.negative.get(key)
  if (cached !== undefined) {
    if (cached.until > now) return Effect.succeed(cached.check)
    state.negative.delete(key)
  }
  park(state, msg, nodes[0], nodes[1])
  if (state.waiting.has(key)) return Effect.succeed("parked")
  state.waiting.add(key)
  return Effect.as(Queue.offer(state.queue, { key, msg, peer }), "parked")
}

/** Whether a re-entering announcement carries a result (its signatures were verified before it was parked). */
export const hasResult = (state: FundingState | undefined, msg: ChannelAnnouncement): boolean =>
  state !== undefined && state.resolved.size > 0 && state.resolved.has(keyOf(msg))

const remember = (state: FundingState, key: string, check: FundingCheck, now: number): void => {
  if (check._tag !== "Invalid") return
  state.negative.delete(key)
  state.negative.set(key, { check, until: now + state.options.negativeTtlMillis })
  while (state.negative.size > state.options.negativeLimit) {
    const first = state.negative.keys().next()
    if (first.done === true) break
    state.negative.delete(first.value)
  }
}

/**
 * One worker: takes up to `chunk` parked announcements, asks the source (retrying while it is unavailable, with
 * capped exponential backoff and no limit), records the results and puts the announcements back into `inbox`.
 * A response the source cannot read (a misconfigured backend) is logged and its announcements dropped without
 * blame: asking again would get the same answer.
 */
export const worker = (
  state: FundingState,
  chain: ChainSourceService,
  inbox: Queue.Queue<Job>
): Effect.Effect<never> =>
  Effect.forever(
    Effect.gen(function* () {
      const taken = yield* Queue.takeBetween(state.queue, 1, state.options.chunk)
      const items = [...taken]
      const result = yield* Effect.either(
        Effect.retry(chain.checkFunding(items.map((p) => p.msg)), {
          schedule: Schedule.exponential(state.options.retryBase).pipe(
            Schedule.union(Schedule.spaced(state.options.retryCap))
          ),
          while: (e) => e._tag !== "ChainSourceBadResponse"
        })
      )
      const now = yield* Clock.currentTimeMillis
      if (result._tag === "Left") {
        yield* Effect.logWarning("chain source answered unexpectedly; announcements dropped without blame", result.left)
        for (const p of items) {
          state.waiting.delete(p.key)
          const at = state.parked.get(p.msg.shortChannelId)
          if (at === undefined) continue
          state.parked.delete(p.msg.shortChannelId)
          state.heldUpdates.delete(p.msg.shortChannelId)
          for (const n of [at.node1, at.node2]) {
            const left = (state.parkedNodes.get(n) ?? 1) - 1
            if (left > 0) state.parkedNodes.set(n, left)
            else {
              state.parkedNodes.delete(n)
              state.heldNodes.delete(n)
            }
          }
        }
        yield* bump(state)
        return
      }
      const byPeer = new Map<string, Array<ChannelAnnouncement>>()
      items.forEach((p, i) => {
        const check = result.right[i]
        state.waiting.delete(p.key)
        state.resolved.set(p.key, check)
        remember(state, p.key, check, now)
        const list = byPeer.get(p.peer)
        if (list === undefined) byPeer.set(p.peer, [p.msg])
        else list.push(p.msg)
      })
      for (const [peer, messages] of byPeer) {
        yield* Queue.offer(inbox, { _tag: "Messages", peer, messages, reply: undefined, reentry: true })
      }
      yield* bump(state)
    })
  )
