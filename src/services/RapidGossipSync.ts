/**
 * RapidGossipSync: Rapid Gossip Sync snapshots (the format in `domain/RapidGossipSync.ts`) built from the GraphStore,
 * for `lnsync rgs` and for `lnsync serve`'s `/snapshot/<timestamp>` and `/snapshot/v2/<timestamp>`.
 *
 * What goes in, for `since` = 0 (full): every channel with at least one update, every update, and (v2) every node
 * announcement. For `since` > 0 (incremental): every update and node announcement with a timestamp ≥ `since`, and
 * the announcements of those channels the client may not hold yet — all but those whose other direction already had
 * an update before `since`. Updates go out as full updates (default-value compressed): the store keeps only the
 * newest update per direction, not what the client held at `since`, so it cannot name the changed fields.
 *
 * Where LDK's server uses the time it *saw* each message, lnsync uses the message's own timestamp (the store keeps no
 * receipt times): gossip that reaches us late with an old timestamp reaches clients with the next full snapshot.
 * `latest_seen_timestamp` is the newest included timestamp (capped at now) rounded down to the 3-hour grid, as LDK's
 * server writes it; the client asks for the next snapshot from it, so the overlap up to the next grid point is sent
 * twice — harmless, the client stamps the second copy a newer time.
 *
 * Left out, as LDK's server also leaves out: channels without any update (nothing to route over). Not done yet:
 * LDK's "reminders" (an empty incremental update every few days for channels whose gossip has not changed, so a
 * client that only takes incremental snapshots does not prune them); a channel whose nodes refresh their updates at
 * least weekly never needs one.
 */
import type { Chunk } from "effect"
import { Cache, Clock, Context, Data, Duration, Effect, Exit, Layer, Stream } from "effect"
import { BITCOIN_MAINNET } from "../domain/Chain.js"
import { decodeChannelAnnouncement, decodeChannelUpdate, decodeNodeAnnouncement } from "../domain/Codec.js"
import type { ChainHash } from "../domain/Messages.js"
import * as Rgs from "../domain/RapidGossipSync.js"
import type { ShortChannelId } from "../domain/ShortChannelId.js"
import type { GraphStoreError, GraphStoreService, StoredGossip } from "./GraphStore.js"
import { GraphStore } from "./GraphStore.js"

export type SnapshotFormat = "v1" | "v2"

export const versionOf = (format: SnapshotFormat): Rgs.Version => (format === "v2" ? 2 : 1)

/** A served snapshot was asked for at a time off the 3-hour grid (LDK's server has no snapshot there either: 404). */
export class SnapshotTimestampNotAligned extends Data.TaggedError("SnapshotTimestampNotAligned")<{
  readonly timestamp: number
}> {
  override get message(): string {
    return `no snapshot at ${this.timestamp}: snapshots are at multiples of ${Rgs.SNAPSHOT_INTERVAL_SECONDS} seconds (or 0 for a full one)`
  }
}

export interface SnapshotOptions {
  readonly format: SnapshotFormat
  /** Unix seconds; 0 or absent: a full snapshot. */
  readonly since?: number
}

export interface Snapshot {
  readonly bytes: Uint8Array
  readonly latestSeen: number
  readonly since: number
  readonly channels: number
  readonly updates: number
  /** v2 node details (0 for v1). */
  readonly nodes: number
  /** Bytes of the raw signed gossip the snapshot stands for (announcements and updates; v2 also node announcements). */
  readonly rawBytes: number
}

export interface RapidGossipSyncSettings {
  /** The chain of a snapshot without channels (any other carries the chain its stored announcements name). */
  readonly chainHash: ChainHash
  /** Served snapshots kept (per `since`, format and 3-hour slot); a mainnet full snapshot is a few MB. */
  readonly cacheCapacity: number
}

export class RapidGossipSyncConfig extends Context.Reference<RapidGossipSyncConfig>()("lnsync/RapidGossipSync/Config", {
  defaultValue: (): RapidGossipSyncSettings => ({ chainHash: BITCOIN_MAINNET, cacheCapacity: 32 })
}) {}

export interface RapidGossipSyncService {
  /** A snapshot of the graph as it is now. */
  readonly snapshot: (options: SnapshotOptions) => Effect.Effect<Snapshot, GraphStoreError>
  /**
   * What `GET /snapshot/<timestamp>` (v1) and `/snapshot/v2/<timestamp>` serve: the snapshot since `timestamp`
   * (0: full), which must be on the 3-hour grid. Built once per 3-hour slot and kept (bounded cache).
   */
  readonly snapshotFor: (
    timestamp: number,
    format: SnapshotFormat
  ) => Effect.Effect<Snapshot, GraphStoreError | SnapshotTimestampNotAligned>
}

export class RapidGossipSync extends Context.Tag("lnsync/RapidGossipSync")<RapidGossipSync, RapidGossipSyncService>() {}

/** Past every u32 timestamp: the end of `gossipInHorizon`'s window. */
const END_OF_TIME = 0x1_0000_0000
const CHANNEL_LOOKUP_BATCH = 1_000

/** What the stream left: decoded and reduced to the snapshot's values as it goes, so raw bytes are not kept. */
interface Collected {
  readonly channels: Map<ShortChannelId, Rgs.RgsChannel>
  readonly announcementBytes: Map<ShortChannelId, number>
  readonly updates: Array<Rgs.RgsUpdate>
  readonly nodes: Array<Rgs.RgsNode>
  /** The stored gossip's own chain (one per store). */
  chainHash: ChainHash | undefined
  newest: number
  rawBytes: number
  skipped: number
}

const collect = (gossip: Stream.Stream<StoredGossip, GraphStoreError>, version: Rgs.Version) =>
  Effect.suspend(() => {
    const acc: Collected = {
      channels: new Map(),
      announcementBytes: new Map(),
      updates: [],
      nodes: [],
      chainHash: undefined,
      newest: 0,
      rawBytes: 0,
      skipped: 0
    }
    const take = (g: StoredGossip): void => {
      if (g.kind === "ChannelAnnouncement") {
        const d = decodeChannelAnnouncement(g.raw)
        if (d._tag === "Left") acc.skipped += 1
        else if (!acc.channels.has(d.right.shortChannelId)) {
          acc.channels.set(d.right.shortChannelId, Rgs.channelOf(d.right))
          acc.chainHash ??= d.right.chainHash.slice()
          acc.announcementBytes.set(d.right.shortChannelId, g.raw.length)
          acc.rawBytes += g.raw.length
        }
      } else if (g.kind === "ChannelUpdate") {
        const d = decodeChannelUpdate(g.raw)
        if (d._tag === "Left") acc.skipped += 1
        else {
          acc.updates.push(Rgs.updateOf(d.right))
          acc.newest = Math.max(acc.newest, d.right.timestamp)
          acc.rawBytes += g.raw.length
        }
      } else if (version === 2) {
        const d = decodeNodeAnnouncement(g.raw)
        if (d._tag === "Left") acc.skipped += 1
        else {
          acc.nodes.push(Rgs.nodeOf(d.right))
          acc.newest = Math.max(acc.newest, d.right.timestamp)
          acc.rawBytes += g.raw.length
        }
      }
    }
    return Stream.runForEachChunk(gossip, (chunk: Chunk.Chunk<StoredGossip>) =>
      Effect.sync(() => {
        for (const g of chunk) take(g)
      })).pipe(Effect.as(acc))
  })

/**
 * Builds a snapshot from `store` at `now` (unix seconds); `chainHash` is for a snapshot without announcements. A plain function over the store's interface so tools can
 * use it without the service (`lnsync rgs`, the bench).
 */
export const buildSnapshot = (
  store: GraphStoreService,
  options: SnapshotOptions & { readonly chainHash: ChainHash; readonly now: number }
): Effect.Effect<Snapshot, GraphStoreError> =>
  Effect.gen(function* () {
    const version = versionOf(options.format)
    const since = Math.max(0, Math.floor(options.since ?? 0))
    const acc = yield* collect(store.gossipInHorizon(since, END_OF_TIME), version)
    if (acc.skipped > 0) {
      yield* Effect.logWarning(`rgs: ${acc.skipped} stored message(s) did not decode and were left out`)
    }

    if (since > 0) {
      // A channel whose other direction had an update before `since` was in the client's graph then: no announcement.
      const inWindow = new Map<ShortChannelId, number>()
      for (const u of acc.updates) {
        inWindow.set(u.shortChannelId, (inWindow.get(u.shortChannelId) ?? 0) | (1 << u.direction))
      }
      const oneSided = [...inWindow].filter(([, dirs]) => dirs !== 3).map(([scid]) => scid)
      for (let i = 0; i < oneSided.length; i += CHANNEL_LOOKUP_BATCH) {
        const held = yield* store.channels(oneSided.slice(i, i + CHANNEL_LOOKUP_BATCH))
        for (const [scid, state] of held) {
          const other = inWindow.get(scid) === 1 ? state.timestamp2 : state.timestamp1
          if (other > 0 && other < since) {
            if (acc.channels.delete(scid)) acc.rawBytes -= acc.announcementBytes.get(scid) ?? 0
          }
        }
      }
    }

    const newest = acc.newest === 0 ? options.now : Math.min(acc.newest, options.now)
    const latestSeen = Rgs.alignTimestamp(newest)
    const bytes = Rgs.encodeSnapshot({
      version,
      chainHash: acc.chainHash ?? options.chainHash,
      latestSeen,
      channels: [...acc.channels.values()],
      updates: acc.updates,
      nodes: acc.nodes
    })
    return {
      bytes,
      latestSeen,
      since,
      channels: acc.channels.size,
      updates: acc.updates.length,
      nodes: acc.nodes.length,
      rawBytes: acc.rawBytes
    }
  })

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

class SlotKey extends Data.Class<{ readonly since: number; readonly format: SnapshotFormat; readonly slot: number }> {}

export const make: Effect.Effect<RapidGossipSyncService, never, GraphStore> = Effect.gen(function* () {
  const store = yield* GraphStore
  const settings = yield* RapidGossipSyncConfig
  const snapshot = (options: SnapshotOptions) =>
    Effect.flatMap(nowSeconds, (now) => buildSnapshot(store, { ...options, chainHash: settings.chainHash, now }))
  const served = yield* Cache.makeWith({
    capacity: settings.cacheCapacity,
    lookup: (key: SlotKey) => snapshot({ format: key.format, since: key.since }),
    // failures are not kept: the next request tries again
    timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.seconds(Rgs.SNAPSHOT_INTERVAL_SECONDS) : Duration.zero)
  })
  const snapshotFor = (timestamp: number, format: SnapshotFormat) =>
    !Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp % Rgs.SNAPSHOT_INTERVAL_SECONDS !== 0
      ? Effect.fail(new SnapshotTimestampNotAligned({ timestamp }))
      : Effect.flatMap(
        nowSeconds,
        (now) => served.get(new SlotKey({ since: timestamp, format, slot: Rgs.alignTimestamp(now) }))
      )
  return { snapshot, snapshotFor } satisfies RapidGossipSyncService
})

export const layer: Layer.Layer<RapidGossipSync, never, GraphStore> = Layer.effect(RapidGossipSync, make)
