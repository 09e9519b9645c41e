/**
 * Choosing, promoting and rotating syncers (SM-19, SM-24, SM-25, SM-27, SM-28, SM-29). Random choices go through
 * Effect's `Random` (SM-27), so a seeded `Random` makes them reproducible; Go's map order was lnd's randomness, we
 * shuffle explicitly. Eligibility is SM-27's "in chansSynced", widened (beyond lnd) to "or idle after a failure
 * whose backoff elapsed" (retry.ts), for promotion, rotation and historical ticks alike.
 */
import { Clock, Effect, Either, Option, Random, Ref } from "effect"
import type { GossipSyncerExiting, SyncTransitionFailed, SyncTransitionTimeout } from "../../GossipSyncer.js"
import type { Entry, ManagerContext } from "./context.js"
import { recordOf, stateOf, withEntry, withoutPeer } from "./context.js"

/**
 * SM-27 eligibility, widened (beyond lnd): `chansSynced`, or `syncerIdle` after a failed sync whose backoff has
 * elapsed. A syncer idle for another reason (a pinned one before its first sync) is not eligible.
 */
export const eligible = (ctx: ManagerContext, entry: Entry): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const state = yield* stateOf(entry)
    if (state === "chansSynced") return true
    if (state !== "syncerIdle") return false
    const record = yield* recordOf(ctx, entry)
    if (record === undefined || Option.isNone(record.retryAtMillis)) return false
    return (yield* Clock.currentTimeMillis) >= record.retryAtMillis.value
  })

/**
 * SM-27: try the candidates in random order, skipping any not eligible (lnd: not in `chansSynced`); with an
 * action, skip those whose action fails. Returns the first that passed.
 */
export const chooseRandomSyncer = <E>(
  ctx: ManagerContext,
  candidates: Iterable<Entry>,
  action?: (entry: Entry) => Effect.Effect<void, E>
): Effect.Effect<Option.Option<Entry>> =>
  Effect.gen(function* () {
    for (const entry of yield* Random.shuffle(candidates)) {
      if (!(yield* eligible(ctx, entry))) continue
      if (action !== undefined) {
        const outcome = yield* Effect.either(action(entry))
        if (Either.isLeft(outcome)) {
          yield* Effect.logDebug("skipping candidate syncer").pipe(
            Effect.annotateLogs({ peer: entry.nodeIdHex, error: String(outcome.left) })
          )
          continue
        }
      }
      return Option.some(entry)
    }
    return Option.none()
  })

type TransitionError = SyncTransitionTimeout | SyncTransitionFailed | GossipSyncerExiting

/** SM-29: the maps change only after the syncer accepted the transition. */
const transition = (
  ctx: ManagerContext,
  entry: Entry,
  to: "ActiveSync" | "PassiveSync"
): Effect.Effect<void, TransitionError> =>
  entry.syncer.processSyncTransition(to).pipe(
    Effect.zipRight(
      Ref.update(ctx.sets, (s) =>
        withEntry(withoutPeer(s, entry.nodeIdHex), to === "ActiveSync" ? "active" : "inactive", entry))
    )
  )

export const promote = (ctx: ManagerContext) => (entry: Entry): Effect.Effect<void, TransitionError> =>
  transition(ctx, entry, "ActiveSync")

export const demote = (ctx: ManagerContext) => (entry: Entry): Effect.Effect<void, TransitionError> =>
  transition(ctx, entry, "PassiveSync")

/** SM-28: a random eligible syncer from active+passive (never pinned) that accepts a historical sync. */
export const forceHistoricalSync = (ctx: ManagerContext, exclude?: string): Effect.Effect<Option.Option<Entry>> =>
  Effect.flatMap(Ref.get(ctx.sets), (s) =>
    chooseRandomSyncer(
      ctx,
      [...s.inactive.values(), ...s.active.values()].filter((e) => e.nodeIdHex !== exclude),
      (e) => e.syncer.historicalSync
    ))

/** SM-24/SM-25: swap one eligible active syncer for one eligible passive one. */
export const rotate = (ctx: ManagerContext): Effect.Effect<void> =>
  Effect.gen(function* () {
    const s = yield* Ref.get(ctx.sets)
    const outgoing = yield* chooseRandomSyncer(ctx, s.active.values())
    if (Option.isNone(outgoing)) return yield* Effect.logDebug("no eligible active syncer to rotate")
    const incoming = yield* chooseRandomSyncer(ctx, s.inactive.values())
    if (Option.isNone(incoming)) return yield* Effect.logDebug("no eligible candidate to rotate in")
    const demoted = yield* Effect.either(demote(ctx)(outgoing.value))
    if (Either.isLeft(demoted)) {
      return yield* Effect.logWarning("rotation: demotion failed").pipe(
        Effect.annotateLogs({ peer: outgoing.value.nodeIdHex, error: String(demoted.left) })
      )
    }
    const promoted = yield* Effect.either(promote(ctx)(incoming.value))
    if (Either.isLeft(promoted)) {
      // SM-24 port note: the active set stays one short until a later promotion; rotation never adds.
      return yield* Effect.logWarning("rotation: promotion failed").pipe(
        Effect.annotateLogs({ peer: incoming.value.nodeIdHex, error: String(promoted.left) })
      )
    }
    yield* Effect.logInfo("rotated active syncer").pipe(
      Effect.annotateLogs({ out: outgoing.value.nodeIdHex, in: incoming.value.nodeIdHex })
    )
  })
