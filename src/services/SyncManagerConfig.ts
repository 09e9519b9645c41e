/**
 * SyncManagerConfig: the validated knobs of the SyncManager (SM-1/SM-2) and of the shared outbound limits the
 * syncer layer enforces (SM-3, SM-30, SM-31, GS-48). Validation lives here, once, so every layer that reads the
 * values (the manager, the syncer factory's limiters and filter semaphore) sees the same checked numbers.
 *
 * The values come from a layer: `layerSyncManagerConfig(input)` for plain values. An operator sets them through
 * the node's one configuration (`Node.NodeConfig`, `LNSYNC_*`, src/layers/Node.ts), which builds this layer.
 */
import { Context, Data, Duration, Effect, Either, Layer } from "effect"

/** The configuration was refused at start (SM-3: lnd's lncfg refuses to start too). */
export class SyncManagerConfigError extends Data.TaggedError("SyncManagerConfigError")<{
  readonly reason: string
}> {}

/** Largest BOLT 1 message: a burst below this could never let one message through (SM-3). */
export const MaxWireMessageBytes = 65535

/**
 * SM-2: lnd's defaults, except the outbound rates (SM-30, GS-48). lnd's 50 KiB/s per peer is a guard for a node
 * whose main job is payments; lnsync's job is serving the graph, and at 50 KiB/s a Core Lightning node needed 134 s
 * to pull a 10,000-channel graph from us (14 s the other way) and a mainnet-size graph took about 15 minutes
 * (issue 16). So a peer gets Core Lightning's 1 MB/s, and all peers together at most 2 MB/s (burst twice that,
 * which keeps SM-3's ordering: burst > global rate > per-peer rate). The global cap is low on purpose: answering
 * is encryption-bound, and on 2 cores 50 peers flooding us with queries at 8 MB/s in all kept a legitimate peer's
 * handshake from completing (issue 14, bench:hostile). Both stay configurable.
 */
export const SyncManagerDefaults = {
  /** lnd `numgraphsyncpeers` (from `defaultMinPeers`). */
  numActiveSyncers: 3,
  /** `DefaultSyncerRotationInterval`. */
  rotationInterval: Duration.minutes(20),
  /** `DefaultHistoricalSyncInterval`. */
  historicalSyncInterval: Duration.hours(1),
  /** `DefaultFilterConcurrency` (SM-31). */
  filterConcurrency: 5,
  /** SM-30 global cap: 2 MB/s (lnd `DefaultMsgBytesPerSecond` is 1000 KiB/s). */
  msgBytesPerSecond: 2_000_000,
  /** SM-30 global burst: twice the global rate (lnd `DefaultMsgBytesBurst` is 2000 KiB). */
  msgBytesBurst: 4_000_000,
  /** GS-48 per peer: Core Lightning's 1 MB/s (lnd `DefaultPeerMsgBytesPerSecond` is 50 KiB/s). */
  peerMsgBytesPerSecond: 1_000_000
} as const

/** What a user may set. Omitted or zero rates/burst/concurrency/intervals mean "use the default" (SM-2). */
export interface SyncManagerConfigInput {
  /** How many ActiveSync syncers to keep (SM-5). 0 is meaningful: no active syncers, no historical syncs (SM-16.2, SM-26). */
  readonly numActiveSyncers?: number | undefined
  readonly rotationInterval?: Duration.DurationInput | undefined
  readonly historicalSyncInterval?: Duration.DurationInput | undefined
  /** Node ids (33-byte compressed keys as hex) whose syncers are PinnedSync (SM-5, SM-16.1). */
  readonly pinnedPeers?: Iterable<string> | undefined
  readonly filterConcurrency?: number | undefined
  readonly msgBytesPerSecond?: number | undefined
  readonly msgBytesBurst?: number | undefined
  readonly peerMsgBytesPerSecond?: number | undefined
}

/** The validated values. */
export interface SyncManagerConfigValues {
  readonly numActiveSyncers: number
  readonly rotationInterval: Duration.Duration
  readonly historicalSyncInterval: Duration.Duration
  /** Lower-case hex node ids. */
  readonly pinnedPeers: ReadonlySet<string>
  /** SM-31: permits of the manager-wide gossip-filter semaphore. */
  readonly filterConcurrency: number
  /** SM-30: global outbound token bucket, bytes per second and burst. */
  readonly msgBytesPerSecond: number
  readonly msgBytesBurst: number
  /** GS-48: per-peer outbound token bucket; the burst is always twice the rate. */
  readonly peerMsgBytesPerSecond: number
  readonly peerMsgBytesBurst: number
}

export class SyncManagerConfig extends Context.Tag("lnsync/SyncManagerConfig")<
  SyncManagerConfig,
  SyncManagerConfigValues
>() {}

const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n > 0

/** SM-2: zero or absent means default. */
const orDefault = (value: number | undefined, fallback: number): number =>
  value === undefined || value === 0 ? fallback : value

const durationOrDefault = (
  name: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, SyncManagerConfigError> => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None") {
    return Either.left(new SyncManagerConfigError({ reason: `${name} is not a duration` }))
  }
  const millis = Duration.toMillis(decoded.value)
  if (millis === 0) return Either.right(fallback)
  if (!Number.isFinite(millis) || millis < 0) {
    return Either.left(new SyncManagerConfigError({ reason: `${name} must be a finite positive duration` }))
  }
  return Either.right(decoded.value)
}

/** 33-byte compressed secp256k1 key: 02/03 prefix, 66 hex digits. */
const pubkeyHex = /^0[23][0-9a-f]{64}$/

/**
 * Applies the defaults (SM-2) and the checks lnd's `lncfg` makes (SM-3): global burst >= 65535, global burst >
 * global rate, global rate > per-peer rate. Also refuses values that cannot work at all (negative counts,
 * malformed pinned keys).
 */
export const validateSyncManagerConfig = (
  input: SyncManagerConfigInput
): Either.Either<SyncManagerConfigValues, SyncManagerConfigError> =>
  Either.gen(function* () {
    const fail = (reason: string) => Either.left(new SyncManagerConfigError({ reason }))

    const numActiveSyncers = input.numActiveSyncers ?? SyncManagerDefaults.numActiveSyncers
    if (!Number.isSafeInteger(numActiveSyncers) || numActiveSyncers < 0) {
      return yield* fail(`numActiveSyncers must be a non-negative integer, got ${numActiveSyncers}`)
    }
    const rotationInterval = yield* durationOrDefault(
      "rotationInterval",
      input.rotationInterval,
      SyncManagerDefaults.rotationInterval
    )
    const historicalSyncInterval = yield* durationOrDefault(
      "historicalSyncInterval",
      input.historicalSyncInterval,
      SyncManagerDefaults.historicalSyncInterval
    )

    const pinnedPeers = new Set<string>()
    for (const raw of input.pinnedPeers ?? []) {
      const hex = raw.trim().toLowerCase()
      if (!pubkeyHex.test(hex)) return yield* fail(`pinned peer is not a 33-byte node id in hex: ${raw}`)
      pinnedPeers.add(hex)
    }

    const filterConcurrency = orDefault(input.filterConcurrency, SyncManagerDefaults.filterConcurrency)
    const msgBytesPerSecond = orDefault(input.msgBytesPerSecond, SyncManagerDefaults.msgBytesPerSecond)
    const msgBytesBurst = orDefault(input.msgBytesBurst, SyncManagerDefaults.msgBytesBurst)
    const peerMsgBytesPerSecond = orDefault(input.peerMsgBytesPerSecond, SyncManagerDefaults.peerMsgBytesPerSecond)
    for (
      const [name, value] of [
        ["filterConcurrency", filterConcurrency],
        ["msgBytesPerSecond", msgBytesPerSecond],
        ["msgBytesBurst", msgBytesBurst],
        ["peerMsgBytesPerSecond", peerMsgBytesPerSecond]
      ] as const
    ) {
      if (!isPositiveInt(value)) return yield* fail(`${name} must be a positive integer, got ${value}`)
    }
    // SM-3, in lncfg's order.
    if (msgBytesBurst < MaxWireMessageBytes) {
      return yield* fail(
        `msgBytesBurst (${msgBytesBurst}) must be at least ${MaxWireMessageBytes}, the largest message`
      )
    }
    if (msgBytesBurst <= msgBytesPerSecond) {
      return yield* fail(
        `msgBytesBurst (${msgBytesBurst}) must be greater than msgBytesPerSecond (${msgBytesPerSecond})`
      )
    }
    if (msgBytesPerSecond <= peerMsgBytesPerSecond) {
      return yield* fail(
        `msgBytesPerSecond (${msgBytesPerSecond}) must be greater than peerMsgBytesPerSecond (${peerMsgBytesPerSecond})`
      )
    }

    return {
      numActiveSyncers,
      rotationInterval,
      historicalSyncInterval,
      pinnedPeers,
      filterConcurrency,
      msgBytesPerSecond,
      msgBytesBurst,
      peerMsgBytesPerSecond,
      // GS-48: per-peer burst is always 2x the per-peer rate.
      peerMsgBytesBurst: 2 * peerMsgBytesPerSecond
    }
  })

/** Plain values as a layer (tests, programs that configure in code). Fails to build on invalid values (SM-3). */
export const layerSyncManagerConfig = (
  input: SyncManagerConfigInput = {}
): Layer.Layer<SyncManagerConfig, SyncManagerConfigError> =>
  Layer.effect(SyncManagerConfig, Effect.suspend(() => validateSyncManagerConfig(input)))
