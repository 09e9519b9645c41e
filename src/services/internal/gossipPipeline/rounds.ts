/**
 * Signature rounds of one batch. Each round verifies one candidate per key (channel, channel direction, node) in
 * one packed call to the SignatureVerifier; an update (node announcement) whose channel is only being announced in
 * this batch is verified speculatively in the same round and its result kept only if that announcement passes.
 * Each round settles at least one message, so the loop ends. Announcements whose four signatures hold get their
 * funding outputs checked (ChainSource) before their verdicts.
 */
import { Effect, Either, Fiber } from "effect"
import type { FundingCheck } from "../../ChainSource.js"
import type { AnnGroup, Settling, SigTask, Verified } from "./batch.js"
import type { AnnTask } from "./announcements.js"
import type { FundingLookup } from "./funding.js"
import { lookupOrPark } from "./funding.js"
import { applyAnnouncements, planAnnouncements, signedAnnouncements } from "./announcements.js"
import { applyNodes, planNodes } from "./nodeAnnouncements.js"
import { SigPacker } from "./signatures.js"
import { applyUpdates, planUpdates } from "./updates.js"

const NONE = new Uint8Array(0)

/**
 * Funding outputs of the signed announcements. Asked inline (a source without `asyncCheck`), a ChainSource failure
 * leaves them undefined (no blame); a chain-backed source is asked off this fiber (`funding.ts`): a known result is
 * used, otherwise the announcement is parked.
 */
const checkFunding = (
  s: Settling,
  signed: ReadonlyArray<AnnTask>
): Effect.Effect<Map<AnnGroup, FundingLookup | undefined>> =>
  Effect.gen(function* () {
    const state = s.ctx.funding
    if (state !== undefined) {
      const parked = new Map<AnnGroup, FundingLookup | undefined>()
      for (const t of signed) {
        const c = t.g.pending[0]
        const nodes = [s.ctx.hexOf(c.msg.nodeId1), s.ctx.hexOf(c.msg.nodeId2)] as const
        parked.set(t.g, yield* lookupOrPark(state, c.msg, c.peer, s.now, nodes))
      }
      return parked
    }
    const funding: Either.Either<ReadonlyArray<FundingCheck>, unknown> = signed.length === 0
      ? Either.right([])
      : yield* Effect.either(s.ctx.chain.checkFunding(signed.map((t) => t.g.pending[0].msg)))
    if (Either.isLeft(funding)) {
      yield* Effect.logWarning("chain source failed; announcements rejected without blame", funding.left)
    }
    const fundingOf = new Map<AnnGroup, FundingLookup | undefined>()
    signed.forEach((t, i) => fundingOf.set(t.g, Either.isRight(funding) ? funding.right[i] : undefined))
    return fundingOf
  })

/**
 * Runs rounds until nothing is left to check. `dispatched` runs just before each round's signatures go to the
 * verifier (the validator overlaps the next batch's dispatch with it).
 */
export const runRounds = (s: Settling, dispatched: Effect.Effect<unknown>): Effect.Effect<void> =>
  Effect.gen(function* () {
    const preFiber = s.prepared.early
    /** The early check's results, joined once, when a round first needs them. */
    let earlyResults: Uint8Array | undefined
    const early = Effect.suspend(() =>
      earlyResults !== undefined || preFiber === undefined
        ? Effect.succeed(earlyResults ?? NONE)
        : Effect.map(Fiber.join(preFiber), (r) => (earlyResults = r))
    )
    for (;;) {
      const sigs = new SigPacker(4 * s.annGroups.size + s.updGroups.size + s.nodeGroups.size)
      const inRound = new Set<AnnGroup>()
      const annTasks = planAnnouncements(s, sigs, inRound)
      const updTasks = planUpdates(s, sigs, inRound)
      const nodeTasks = planNodes(s, sigs, inRound)
      if (annTasks.length + updTasks.length + nodeTasks.length === 0) break

      yield* dispatched
      const valid = sigs.count === 0 ? NONE : yield* s.ctx.verifier.verifyPacked(sigs.bytes(), sigs.count)
      const checkedEarly = yield* early
      // `at` -1: an announcement back from the funding check, its signatures verified before it was parked
      const ok: Verified = (t: SigTask, k = 0) => t.at < 0 || (t.early ? checkedEarly : valid)[t.at + k] === 1

      const fundingOf = yield* checkFunding(s, signedAnnouncements(annTasks, ok))
      applyAnnouncements(s, annTasks, ok, fundingOf, updTasks)
      applyUpdates(s, updTasks, ok)
      applyNodes(s, nodeTasks, ok)
    }
  })
