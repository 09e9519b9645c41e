/**
 * Verdicts of one batch and their consequences: the recorder every stage gives verdicts to (one slot per message,
 * tallies for the metrics, offences per peer), and the accounting at the end of a batch — SM-33 misbehaviour
 * scores and bans, and the metrics for everything but acceptance (counted once written, in `write.ts`).
 */
import { Effect, Metric, PubSub } from "effect"
import type { BanEvent, InvalidReason, Verdict } from "../../GossipPipeline.js"
import type { PipelineContext } from "./context.js"
import { GossipPipelineMetrics } from "./metrics.js"
import { isOffence } from "./rules.js"

export const ACCEPTED: Verdict = { _tag: "Accepted" }
export const DUPLICATE: Verdict = { _tag: "Duplicate" }
export const PREMATURE: Verdict = { _tag: "Premature" }
export const TOO_OLD: Verdict = { _tag: "Stale", reason: "TooOld" }
export const invalid = (reason: InvalidReason): Verdict => ({ _tag: "Invalid", reason })

/** Verdict tallies of one batch, for the metrics. */
interface Tally {
  duplicate: number
  premature: number
  stale: Map<string, number>
  invalid: Map<string, number>
}

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1)
}

export interface Recorder {
  /** One verdict per message of the batch, in order. */
  readonly verdicts: Array<Verdict>
  readonly tally: Tally
  /** Offences per peer this batch (SM-33), with the last reason. */
  readonly offences: Map<string, { count: number; reason: string }>
  /** Gossip for another chain per peer this batch: ignored (BOLT 7), not an offence, logged at debug. */
  readonly foreign: Map<string, number>
  /**
   * Records a verdict at `slot`, or for a message taken back out of a premature cache (`slot` -1, its verdict was
   * given when it was held) only its consequences.
   */
  readonly give: (peer: string, slot: number, v: Verdict, countsAsOffence?: boolean) => void
}

export const makeRecorder = (size: number): Recorder => {
  const verdicts = new Array<Verdict>(size)
  const tally: Tally = { duplicate: 0, premature: 0, stale: new Map(), invalid: new Map() }
  const offences = new Map<string, { count: number; reason: string }>()
  const foreign = new Map<string, number>()
  const offend = (peer: string, reason: string) => {
    const o = offences.get(peer)
    if (o === undefined) offences.set(peer, { count: 1, reason })
    else {
      o.count += 1
      o.reason = reason
    }
  }
  const give = (peer: string, slot: number, v: Verdict, countsAsOffence = true) => {
    if (slot >= 0) verdicts[slot] = v
    switch (v._tag) {
      case "Duplicate":
        if (slot >= 0) tally.duplicate += 1
        break
      case "Premature":
        if (slot >= 0) tally.premature += 1
        break
      case "Stale":
        bump(tally.stale, v.reason)
        break
      case "Invalid":
        bump(tally.invalid, v.reason)
        if (v.reason === "WrongChain") bump(foreign, peer)
        break
    }
    if (countsAsOffence && isOffence(v)) offend(peer, v._tag === "Invalid" ? v.reason : "InFuture")
  }
  return { verdicts, tally, offences, foreign, give }
}

/** SM-33 scores and bans for this batch's offences (bans published), then the batch's metrics. */
export const account = (ctx: PipelineContext, recorder: Recorder, now: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { foreign, offences, tally } = recorder
    for (const [peer, count] of foreign) {
      yield* Effect.logDebug("ignored gossip for another chain (BOLT 7)").pipe(Effect.annotateLogs({ peer, count }))
    }
    const bans: Array<BanEvent> = []
    for (const [peer, o] of offences) {
      yield* Effect.logDebug("invalid gossip from peer").pipe(
        Effect.annotateLogs({ peer, count: o.count, lastReason: o.reason })
      )
      const ban = ctx.misbehaviour.offend(peer, o.count, o.reason, now)
      if (ban !== undefined) bans.push(ban)
    }
    for (const ban of bans) {
      yield* Effect.logWarning("peer banned for invalid gossip").pipe(
        Effect.annotateLogs({ peer: ban.nodeIdHex, until: new Date(ban.untilMillis).toISOString(), reason: ban.reason })
      )
      yield* Metric.increment(GossipPipelineMetrics.bans)
    }
    if (bans.length > 0) yield* PubSub.publishAll(ctx.banHub, bans)
    if (tally.duplicate > 0) yield* Metric.incrementBy(GossipPipelineMetrics.duplicate, tally.duplicate)
    if (tally.premature > 0) yield* Metric.incrementBy(GossipPipelineMetrics.premature, tally.premature)
    for (const [reason, n] of tally.stale) {
      yield* Metric.incrementBy(Metric.tagged(GossipPipelineMetrics.stale, "reason", reason), n)
    }
    for (const [reason, n] of tally.invalid) {
      yield* Metric.incrementBy(Metric.tagged(GossipPipelineMetrics.invalid, "reason", reason), n)
    }
  })
