/**
 * GossipPipelineConfig read through Effect `Config` (environment by default). Keys under `GOSSIP`
 * (env: `GOSSIP_CHAIN`, ...); anything absent keeps its default (GossipPipelineDefaults):
 *
 * | key | meaning | default |
 * |---|---|---|
 * | `CHAIN` | mainnet, testnet3, regtest or signet | mainnet |
 * | `BAN_THRESHOLD` | invalid messages before a ban, 0 disables (SM-33) | 100 |
 * | `BAN_DURATION` | how long a ban lasts (SM-33) | 48 hours |
 * | `BATCH_SIZE` | messages validated and written together | 1024 |
 * | `QUEUE_BOUND` | messages waiting before `submit` blocks | 8192 |
 * | `PREMATURE_UPDATES` | channel_updates held for unknown channels | 1000 |
 * | `MAX_FUTURE` | how far in the future a timestamp may be | 1 hour |
 */
import type { ConfigError } from "effect"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { fromName } from "../domain/Chain.js"
import type { GossipPipelineConfigError, GossipPipelineConfigValues } from "../services/GossipPipelineConfig.js"
import { GossipPipelineConfig, validateGossipPipelineConfig } from "../services/GossipPipelineConfig.js"

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.option(config).pipe(Config.map(Option.getOrUndefined))

export const gossipPipelineConfigInput: Config.Config<Partial<GossipPipelineConfigValues>> = Config.nested(
  Config.all({
    chain: optional(Config.literal("mainnet", "testnet3", "regtest", "signet")("CHAIN")),
    banThreshold: optional(Config.integer("BAN_THRESHOLD")),
    banDuration: optional(Config.duration("BAN_DURATION")),
    batchSize: optional(Config.integer("BATCH_SIZE")),
    queueBound: optional(Config.integer("QUEUE_BOUND")),
    prematureUpdates: optional(Config.integer("PREMATURE_UPDATES")),
    maxFuture: optional(Config.duration("MAX_FUTURE"))
  }),
  "GOSSIP"
).pipe(
  Config.map((c) => ({
    chainHash: c.chain === undefined ? undefined : fromName(c.chain),
    banThreshold: c.banThreshold,
    banDurationMillis: c.banDuration === undefined ? undefined : Duration.toMillis(c.banDuration),
    batchSize: c.batchSize,
    queueBound: c.queueBound,
    prematureUpdates: c.prematureUpdates,
    maxFutureSeconds: c.maxFuture === undefined ? undefined : Math.floor(Duration.toSeconds(c.maxFuture))
  }))
)

export const GossipPipelineConfigLive: Layer.Layer<
  GossipPipelineConfig,
  ConfigError.ConfigError | GossipPipelineConfigError
> = Layer.effect(GossipPipelineConfig, Effect.flatMap(gossipPipelineConfigInput, validateGossipPipelineConfig))
