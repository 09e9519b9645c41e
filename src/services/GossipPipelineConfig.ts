/**
 * GossipPipelineConfig: the knobs of the validation pipeline, with defaults taken from lnd where it has one.
 *
 * Plain values: `layerGossipPipelineConfig(overrides)`. An operator sets the knobs that matter to them through the
 * node's one configuration (`Node.NodeConfig`, `LNSYNC_*`, src/layers/Node.ts).
 */
import { Context, Data, Effect, Layer } from "effect"
import { BITCOIN_MAINNET } from "../domain/Chain.js"
import type { ChainHash } from "../domain/Messages.js"

export class GossipPipelineConfigError extends Data.TaggedError("GossipPipelineConfigError")<{
  readonly reason: string
}> {}

export interface GossipPipelineConfigValues {
  /** BOLT 7: gossip for any other chain is ignored (WrongChain). */
  readonly chainHash: ChainHash
  /** SM-33: invalid messages before a peer is banned (lnd `DefaultBanThreshold` 100); 0 disables banning. */
  readonly banThreshold: number
  /** SM-33: how long a ban lasts (lnd: 48 h). */
  readonly banDurationMillis: number
  /** SM-33: a peer's score is forgotten this long after its last offence (lnd: 48 h). */
  readonly scoreResetMillis: number
  /** SM-33: most peers whose score (and, separately, whose ban) is remembered (lnd: 10 000). */
  readonly maxTrackedPeers: number
  /**
   * Messages validated together: one store read per kind, one signature batch, one write transaction. 2048 (not
   * 1024): each commit rewrites every index page its rows touch, and the update-time index's keys are random, so
   * a commit rewrites most of that index whatever the batch size; half the commits halve that (issue 18: the store
   * wrote 1.1 GB for a 65 MB mainnet graph in 1024-message batches; applyBatch CPU in bench:sync 3.0 -> 2.3 s).
   */
  readonly batchSize: number
  /** Messages that may wait in the pipeline before `submit` blocks (backpressure to the peers). */
  readonly queueBound: number
  /** Premature channel_updates held for channels not announced yet (lnd keeps a small LRU too). */
  readonly prematureUpdates: number
  /** ...and at most this many per short channel id, so one channel cannot take the whole cache. */
  readonly prematureUpdatesPerChannel: number
  /** Node announcements held for nodes without a known channel yet. */
  readonly prematureNodes: number
  /** How long a premature message is held ("held briefly"). */
  readonly prematureTtlMillis: number
  /**
   * BOLT 7: "if the timestamp is unreasonably far in the future: MAY discard". One hour: tolerates signers' clock
   * skew, yet a future timestamp cannot pin a channel direction against honest updates for long.
   */
  readonly maxFutureSeconds: number
  /** BOLT 7 pruning horizon: older gossip is stale (two weeks, 1 209 600 s). */
  readonly staleSeconds: number
  /** Accepted-gossip buffer per subscriber; a slow subscriber loses the oldest (sliding). */
  readonly acceptedBuffer: number
}

export const GossipPipelineDefaults: GossipPipelineConfigValues = {
  chainHash: BITCOIN_MAINNET,
  banThreshold: 100,
  banDurationMillis: 48 * 3600 * 1000,
  scoreResetMillis: 48 * 3600 * 1000,
  maxTrackedPeers: 10_000,
  batchSize: 2048,
  queueBound: 8192,
  prematureUpdates: 1000,
  prematureUpdatesPerChannel: 4,
  prematureNodes: 1000,
  prematureTtlMillis: 10 * 60 * 1000,
  maxFutureSeconds: 3600,
  staleSeconds: 1_209_600,
  acceptedBuffer: 8192
}

export class GossipPipelineConfig extends Context.Tag("lnsync/GossipPipelineConfig")<
  GossipPipelineConfig,
  GossipPipelineConfigValues
>() {}

const POSITIVE: ReadonlyArray<keyof GossipPipelineConfigValues> = [
  "banDurationMillis",
  "scoreResetMillis",
  "maxTrackedPeers",
  "batchSize",
  "queueBound",
  "prematureUpdates",
  "prematureUpdatesPerChannel",
  "prematureNodes",
  "prematureTtlMillis",
  "staleSeconds",
  "acceptedBuffer"
]

/** Defaults for what is absent; refuses non-integers, negatives, zero sizes and a chain hash that is not 32 bytes. */
export const validateGossipPipelineConfig = (
  overrides: Partial<GossipPipelineConfigValues>
): Effect.Effect<GossipPipelineConfigValues, GossipPipelineConfigError> => {
  const values: GossipPipelineConfigValues = { ...GossipPipelineDefaults, ...stripUndefined(overrides) }
  if (values.chainHash.length !== 32) {
    return Effect.fail(new GossipPipelineConfigError({ reason: "chainHash must be 32 bytes" }))
  }
  for (const k of POSITIVE) {
    const v = values[k]
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      return Effect.fail(new GossipPipelineConfigError({ reason: `${k} must be a positive integer, got ${String(v)}` }))
    }
  }
  for (const k of ["banThreshold", "maxFutureSeconds"] as const) {
    if (!Number.isSafeInteger(values[k]) || values[k] < 0) {
      return Effect.fail(new GossipPipelineConfigError({ reason: `${k} must be a non-negative integer` }))
    }
  }
  if (values.queueBound < values.batchSize) {
    return Effect.fail(new GossipPipelineConfigError({ reason: "queueBound must be at least batchSize" }))
  }
  return Effect.succeed(values)
}

const stripUndefined = <A extends object>(a: Partial<A>): Partial<A> =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Partial<A>

/** The config from plain values (defaults for the rest); fails at build time on invalid values. */
export const layerGossipPipelineConfig = (
  overrides: Partial<GossipPipelineConfigValues> = {}
): Layer.Layer<GossipPipelineConfig, GossipPipelineConfigError> =>
  Layer.effect(GossipPipelineConfig, validateGossipPipelineConfig(overrides))

export const GossipPipelineConfigDefault: Layer.Layer<GossipPipelineConfig> = Layer.succeed(
  GossipPipelineConfig,
  GossipPipelineDefaults
)
