/**
 * SyncManagerConfig read through Effect `Config` (environment by default, any ConfigProvider in general), with
 * lnd's defaults (SM-2) and lncfg's checks (SM-3). Keys, all under `SYNC` (env: `SYNC_NUM_ACTIVE_SYNCERS`, ...):
 *
 * | key | lnd option | default |
 * |---|---|---|
 * | `NUM_ACTIVE_SYNCERS` | `numgraphsyncpeers` | 3 |
 * | `ROTATION_INTERVAL` | (fixed in lnd) | 20 minutes |
 * | `HISTORICAL_SYNC_INTERVAL` | `historicalsyncinterval` | 1 hour |
 * | `PINNED_PEERS` | `gossip.pinned-syncers` (comma separated hex node ids) | none |
 * | `FILTER_CONCURRENCY` | `gossip.filter-concurrency` | 5 |
 * | `MSG_RATE_BYTES` | `gossip.msg-rate-bytes` | 1 024 000 |
 * | `MSG_BURST_BYTES` | `gossip.msg-burst-bytes` | 2 048 000 |
 * | `PEER_MSG_RATE_BYTES` | `gossip.peer-msg-rate-bytes` | 51 200 |
 */
import type { ConfigError } from "effect"
import { Config, Effect, Layer, Option } from "effect"
import type { SyncManagerConfigError, SyncManagerConfigInput } from "../services/internal/syncManager/config.js"
import { SyncManagerConfig, validateSyncManagerConfig } from "../services/internal/syncManager/config.js"

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.option(config).pipe(Config.map(Option.getOrUndefined))

/** The raw inputs; validation (and the defaults for absent/zero values) happens in `validateSyncManagerConfig`. */
export const syncManagerConfigInput: Config.Config<SyncManagerConfigInput> = Config.nested(
  Config.all({
    numActiveSyncers: optional(Config.integer("NUM_ACTIVE_SYNCERS")),
    rotationInterval: optional(Config.duration("ROTATION_INTERVAL")),
    historicalSyncInterval: optional(Config.duration("HISTORICAL_SYNC_INTERVAL")),
    pinnedPeers: optional(Config.array(Config.string(), "PINNED_PEERS")),
    filterConcurrency: optional(Config.integer("FILTER_CONCURRENCY")),
    msgBytesPerSecond: optional(Config.integer("MSG_RATE_BYTES")),
    msgBytesBurst: optional(Config.integer("MSG_BURST_BYTES")),
    peerMsgBytesPerSecond: optional(Config.integer("PEER_MSG_RATE_BYTES"))
  }),
  "SYNC"
)

/** Builds the SyncManagerConfig from the current ConfigProvider; refuses to start on invalid values (SM-3). */
export const SyncManagerConfigLive: Layer.Layer<SyncManagerConfig, ConfigError.ConfigError | SyncManagerConfigError> =
  Layer.effect(
    SyncManagerConfig,
    Effect.flatMap(syncManagerConfigInput, (input) => validateSyncManagerConfig(input))
  )
