/**
 * ChainWatcher (issue 15): the two ways a channel leaves the graph, each a fiber of the layer's Scope.
 *
 * - **Spent channels** (only with a chain source that follows the tip: `tipHeight`, `spentInBlock`). Every
 *   `pollInterval` the tip is read; each new block's spent outpoints are matched against the channels' funding
 *   outpoints (`GraphStore.markSpent`): such a channel is marked spent and no longer relayed (not in range replies,
 *   scid replies or timestamp-filter backlogs; its updates are not accepted, so not forwarded), and forgotten
 *   `forgetAfterBlocks` (72) blocks after the spend (BOLT 7 since 2025: room for a splice, which re-announces the
 *   channel under a new scid and is accepted like any new channel). Blocks are followed from the tip seen at
 *   start; a block that cannot be read is tried again next poll. Reorgs are not followed (a spend in a block that
 *   is reorged out stays marked until the two-week prune or a restart: conservative, we stop relaying early).
 * - **Stale channels**: `GraphStore.prune` by BOLT 7's two-week rule (a channel whose newest update is older than
 *   `staleAfterSeconds`), first `pruneFirstAfter` after start, then every `pruneInterval` (lnd: hourly). Pruned
 *   scids go to the zombie index: the syncer does not fetch them again from range replies (`selectWanted`), and the
 *   pipeline takes a zombie back only with a fresh update whose signature verifies (lnd's resurrection rule).
 */
import { Clock, Context, Effect, Layer, Option, Ref, Schedule } from "effect"
import type { Duration, Scope } from "effect"
import { ChainSource } from "./ChainSource.js"
import { GraphStore } from "./GraphStore.js"

export interface ChainWatcherConfigValues {
  /** How often the chain tip is read (default 1 minute: blocks come every ~10). */
  readonly pollInterval: Duration.DurationInput
  /** Blocks after a spend before the channel is forgotten (BOLT 7: 72). */
  readonly forgetAfterBlocks: number
  /** BOLT 7's staleness rule: two weeks without an update. */
  readonly staleAfterSeconds: number
  /** First prune after start (default 1 minute: soon, but not while the first sync's first batches land). */
  readonly pruneFirstAfter: Duration.DurationInput
  /** Then every (default 1 hour, as lnd). */
  readonly pruneInterval: Duration.DurationInput
}

export const ChainWatcherDefaults: ChainWatcherConfigValues = {
  pollInterval: "1 minute",
  forgetAfterBlocks: 72,
  staleAfterSeconds: 14 * 24 * 3600,
  pruneFirstAfter: "1 minute",
  pruneInterval: "1 hour"
}

export interface ChainWatcherService {
  /** One poll of the chain tip now (the watcher fiber runs it every `pollInterval`); none without a chain source. */
  readonly poll: Effect.Effect<void>
  /** One prune now (the pruner fiber runs it on its schedule). */
  readonly prune: Effect.Effect<{ readonly channelsPruned: number }>
  /** The last block whose spends have been applied (none before the first poll, or without a chain source). */
  readonly height: Effect.Effect<Option.Option<number>>
}

export class ChainWatcher extends Context.Tag("lnsync/ChainWatcher")<ChainWatcher, ChainWatcherService>() {}

/** Builds the watcher and forks its fibers in the current Scope. */
export const make = (
  options: Partial<ChainWatcherConfigValues> = {}
): Effect.Effect<ChainWatcherService, never, GraphStore | ChainSource | Scope.Scope> =>
  Effect.gen(function* () {
    const config = { ...ChainWatcherDefaults, ...options }
    const store = yield* GraphStore
    const chain = yield* ChainSource
    const last = yield* Ref.make(Option.none<number>())
    const lock = yield* Effect.makeSemaphore(1)

    const tipHeight = chain.tipHeight
    const spentInBlock = chain.spentInBlock
    const markSpent = store.markSpent
    const forgetSpent = store.forgetSpent
    const following = tipHeight !== undefined && spentInBlock !== undefined && markSpent !== undefined &&
      forgetSpent !== undefined

    const pollOnce: Effect.Effect<void> = !following
      ? Effect.void
      : Effect.gen(function* () {
        const tip = yield* tipHeight
        const from = yield* Ref.get(last)
        if (Option.isNone(from)) {
          // follow from the tip seen now: channels accepted from here on were checked unspent when accepted
          yield* Ref.set(last, Option.some(tip))
          return
        }
        for (let h = from.value + 1; h <= tip; h++) {
          const spent = yield* spentInBlock(h)
          const marked = spent.length === 0 ? [] : yield* markSpent(spent, h)
          if (marked.length > 0) {
            yield* Effect.logInfo(`${marked.length} channel(s) closed in block ${h}: no longer relayed`)
          }
          yield* Ref.set(last, Option.some(h))
        }
        const { channelsForgotten } = yield* forgetSpent(tip - config.forgetAfterBlocks)
        if (channelsForgotten > 0) {
          yield* Effect.logInfo(
            `${channelsForgotten} spent channel(s) forgotten (${config.forgetAfterBlocks} blocks after their spend)`
          )
        }
      }).pipe(
        lock.withPermits(1),
        Effect.catchAll((e) => Effect.logWarning("chain watcher: poll failed; tried again next poll", e))
      )

    const pruneOnce = Effect.gen(function* () {
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const result = yield* store.prune(now - config.staleAfterSeconds)
      if (result.channelsPruned > 0) {
        yield* Effect.logInfo(`${result.channelsPruned} stale channel(s) pruned (BOLT 7: two weeks without an update)`)
      }
      return result
    }).pipe(
      Effect.catchAll((e) =>
        Effect.as(Effect.logWarning("pruning failed; tried again next time", e), { channelsPruned: 0 })
      )
    )

    if (following) yield* Effect.forkScoped(Effect.repeat(pollOnce, Schedule.spaced(config.pollInterval)))
    yield* Effect.forkScoped(
      Effect.sleep(config.pruneFirstAfter).pipe(
        Effect.zipRight(Effect.repeat(pruneOnce, Schedule.spaced(config.pruneInterval)))
      )
    )
    return { poll: pollOnce, prune: pruneOnce, height: Ref.get(last) }
  })

export const layer = (
  options: Partial<ChainWatcherConfigValues> = {}
): Layer.Layer<ChainWatcher, never, GraphStore | ChainSource> => Layer.scoped(ChainWatcher, make(options))
