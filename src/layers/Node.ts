/**
 * The whole gossip-sync node as one Layer: TCP peers (BOLT 8), a GossipSyncer per peer, the validation pipeline on
 * a worker pool, the SyncManager, the Reconciler, and a GraphStore of the caller's choice. This is what the CLI runs
 * and what an Effect program provides to get a node:
 *
 *   const node = Node.layer({ chain: BITCOIN_MAINNET, nodePrivateKey, store: GraphStoreSqlite.layer({ filename }) })
 *   Effect.gen(function*() { const m = yield* SyncManager; yield* m.awaitGraphSynced }).pipe(Effect.provide(node))
 *
 * or, configured from `LNSYNC_*` like the CLI: `Node.layerConfig()`.
 *
 * Every service is built once per layer build (the store is shared by the pipeline, the syncers and the caller)
 * and every fiber and socket belongs to the layer's scope. Any outside-world service can be replaced: the store,
 * the chain source, the connector, the signature verifier.
 */
import { Config, ConfigError, Data, Duration, Effect, Either, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as Chain from "../domain/Chain.js"
import type { ChainName } from "../domain/Chain.js"
import { fromHex } from "../domain/Hex.js"
import type { ChainHash } from "../domain/Messages.js"
import * as ChainSource from "../services/ChainSource.js"
import * as ChainWatcher from "../services/ChainWatcher.js"
import type { GossipPipeline } from "../services/GossipPipeline.js"
import { layer as layerGossipPipeline } from "../services/GossipPipeline.js"
import type { GossipPipelineConfig, GossipPipelineConfigValues } from "../services/GossipPipelineConfig.js"
import { GossipPipelineDefaults, layerGossipPipelineConfig } from "../services/GossipPipelineConfig.js"
import type { GossipPipelineConfigError } from "../services/GossipPipelineConfig.js"
import type { GossipSyncerSettings } from "../services/GossipSyncer.js"
import * as GossipSyncer from "../services/GossipSyncer.js"
import type { GraphStore } from "../services/GraphStore.js"
import type { GraphStoreChainMismatch, GraphStoreError } from "../services/GraphStore.js"
import type { TransportIoError } from "../services/Peer.js"
import type { NodeIdentity, PeerAddress, PeerConnector } from "../services/PeerConnector.js"
import * as Reconciler from "../services/Reconciler.js"
import * as SignatureVerifier from "../services/SignatureVerifier.js"
import { SyncManager } from "../services/SyncManager.js"
import * as SyncNode from "../services/SyncNode.js"
import type {
  SyncManagerConfig,
  SyncManagerConfigError,
  SyncManagerConfigInput
} from "../services/SyncManagerConfig.js"
import { layerSyncManagerConfig, SyncManagerDefaults } from "../services/SyncManagerConfig.js"
import { isPostgresUrl } from "./graph/databaseUrl.js"
import { loadModule } from "./loading.js"
import * as GraphStoreSqlite from "./graph/GraphStoreSqlite.js"
import * as TcpPeerConnector from "./net/TcpPeerConnector.js"
import * as VerifyWorkerPool from "./verify/VerifyWorkerPool.js"
import * as ChainSourceConfig from "./chain/ChainSourceConfig.js"

// ---------------------------------------------------------------------------------------------------------------
// NodeConfig: what an operator sets

/**
 * The node as an operator configures it: the one set of settings the CLI (flags over these) and embedders
 * (`layerConfig`) share. `config` reads it from `LNSYNC_*` through Effect `Config` (the environment by default, any
 * ConfigProvider in general). The defaults, documented here once:
 *
 * | env (`LNSYNC_…`) | field | default |
 * |---|---|---|
 * | `PEERS` | peers to dial, `<node_id>@<host>:<port>`, comma-separated | none |
 * | `PINNED` | node ids always synced actively (SM-5), comma-separated | none |
 * | `DB` | SQLite file for the graph | `./lnsync.sqlite` |
 * | `LISTEN` | accept inbound peers on `<host>:<port>` | not listening |
 * | `ACTIVE` | active syncers, lnd's `numgraphsyncpeers` (SM-2) | 3 |
 * | `KEY_FILE` | our node key, created (mode 0600) on first run | `./lnsync-node.key` |
 * | `CHAIN` | mainnet, testnet3, regtest or signet | mainnet |
 * | `CHAIN_SOURCE` | funding outputs checked by `none` (signatures only), `esplora:<url>` or `bitcoind:<url>` (issue 15) | none |
 * | `EXIT_WHEN_SYNCED` | exit once every connected peer completed or failed its sync (or none is left) | false |
 * | `SYNC_DEADLINE` | with `EXIT_WHEN_SYNCED`: exit by then whatever the peers are doing (issue 13) | 30 minutes |
 * | `REPLY_TIMEOUT` | longest wait for a peer's reply or progress before its sync fails (GS-51) | 2 minutes |
 * | `ROTATION_INTERVAL` | active syncer rotation (SM-2) | 20 minutes |
 * | `HISTORICAL_SYNC_INTERVAL` | lnd's `historicalsyncinterval` | 1 hour |
 * | `FILTER_CONCURRENCY` | `gossip.filter-concurrency` (SM-31) | 5 |
 * | `MSG_RATE_BYTES` | `gossip.msg-rate-bytes`, global outbound cap (SM-30) | 2 000 000 |
 * | `MSG_BURST_BYTES` | `gossip.msg-burst-bytes` (SM-30) | 4 000 000 |
 * | `PEER_MSG_RATE_BYTES` | `gossip.peer-msg-rate-bytes`, per peer (GS-48; Core Lightning's, not lnd's 51 200) | 1 000 000 |
 * | `BAN_THRESHOLD` | invalid messages before a ban, 0 disables (SM-33) | 100 |
 * | `BAN_DURATION` | how long a ban lasts (SM-33) | 48 hours |
 * | `BATCH_SIZE` | messages validated and written together | 2048 |
 * | `QUEUE_BOUND` | messages waiting before the pipeline pushes back | 8192 |
 * | `PREMATURE_UPDATES` | channel_updates held for channels not announced yet | 1000 |
 * | `MAX_FUTURE` | how far in the future a timestamp may be | 1 hour |
 * | `MAX_INBOUND_PEERS` | established inbound peers at most (issue 14) | 100 |
 * | `RECONCILE_CONCURRENCY` | peers reconciled at once after the initial sync (the Reconciler; 1: one by one) | 8 |
 *
 * The sync and pipeline values come from `SyncManagerDefaults`, `GossipPipelineDefaults` (lnd's where it has one)
 * and `ReconcilerDefaults`; a zero rate, burst, concurrency or interval also means the default (SM-2). Invalid
 * combinations are refused when the node starts (SM-3).
 */
export interface NodeConfig {
  readonly chain: ChainName
  readonly peers: ReadonlyArray<PeerAddress>
  /** Lower-case hex node ids. */
  readonly pinned: ReadonlyArray<string>
  readonly db: string
  readonly listen: HostPort | undefined
  readonly active: number
  readonly keyFile: string
  readonly exitWhenSynced: boolean
  /** Who checks funding outputs (BOLT 7); `none` trusts the signatures alone. */
  readonly chainSource: ChainSourceConfig.ChainSourceSpec
  /** `--exit-when-synced` ends by this deadline even if some peer never settles (issue 13: it always ends). */
  readonly syncDeadline: Duration.Duration
  /** The syncers' reply timeout (GS-51); absent means the syncer's default. */
  readonly replyTimeout: Duration.Duration | undefined
  /** Established inbound peers at most (`TcpPeerConnectorConfig.maxInboundPeers`); absent means the default. */
  readonly maxInboundPeers?: number | undefined
  /**
   * Reconciliations running at once (`ReconcilerSettings.concurrency`): against lnd's 50 KiB/s per peer (GS-48),
   * reconciling peers one by one adds up their range replies' transfer times (issue 18).
   */
  readonly reconcileConcurrency: number
  /** The SyncManager's other knobs; absent means the default. */
  readonly syncManager: Omit<SyncManagerConfigInput, "numActiveSyncers" | "pinnedPeers">
  /** The pipeline's knobs an operator may want; absent means the default. */
  readonly pipeline: Partial<
    Pick<
      GossipPipelineConfigValues,
      "banThreshold" | "banDurationMillis" | "batchSize" | "queueBound" | "prematureUpdates" | "maxFutureSeconds"
    >
  >
}

export interface HostPort {
  readonly host: string
  readonly port: number
}

export const NodeConfigDefaults: NodeConfig = {
  chain: "mainnet",
  peers: [],
  pinned: [],
  db: "./lnsync.sqlite",
  listen: undefined,
  active: SyncManagerDefaults.numActiveSyncers,
  keyFile: "./lnsync-node.key",
  exitWhenSynced: false,
  chainSource: { kind: "none" },
  syncDeadline: Duration.minutes(30),
  replyTimeout: undefined,
  reconcileConcurrency: Reconciler.ReconcilerDefaults.concurrency,
  syncManager: {},
  pipeline: {}
}

/** `<node_id>@<host>:<port>` (IPv6 hosts in brackets), the form lnd and CLN print. */
export const parsePeerAddress = (text: string): Either.Either<PeerAddress, string> => {
  const m = /^([0-9a-fA-F]{66})@(.+):(\d{1,5})$/.exec(text.trim())
  if (m === null) return Either.left(`a peer must be <node_id>@<host>:<port>, got ${text}`)
  return Either.right({ nodeId: fromHex(m[1]!), host: m[2]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[3]) })
}

/** `<host>:<port>` (IPv6 hosts in brackets). */
export const parseHostPort = (text: string): Either.Either<HostPort, string> => {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim())
  return m === null
    ? Either.left(`expected <host>:<port>, got ${text}`)
    : Either.right({ host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) })
}

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.option(config).pipe(Config.map((o) => (o._tag === "Some" ? o.value : undefined)))

/** A comma-separated list; empty entries dropped. */
const list = (name: string): Config.Config<ReadonlyArray<string>> =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((v) => v.split(",").map((p) => p.trim()).filter((p) => p.length > 0))
  )

const invalid = (path: ReadonlyArray<string>, message: string): ConfigError.ConfigError =>
  ConfigError.InvalidData([...path], message)

/** `NodeConfig` from `LNSYNC_*` (see the table above); fails with a ConfigError naming the bad key. */
export const config: Config.Config<NodeConfig> = Config.nested(
  Config.all({
    chain: Config.literal("mainnet", "testnet3", "regtest", "signet")("CHAIN").pipe(
      Config.withDefault(NodeConfigDefaults.chain)
    ),
    peers: Config.mapOrFail(list("PEERS"), (texts) => {
      const out: Array<PeerAddress> = []
      for (const text of texts) {
        const peer = parsePeerAddress(text)
        if (Either.isLeft(peer)) return Either.left(invalid(["PEERS"], peer.left))
        out.push(peer.right)
      }
      return Either.right(out)
    }),
    pinned: Config.map(list("PINNED"), (ids) => ids.map((id) => id.toLowerCase())),
    db: Config.string("DB").pipe(Config.withDefault(NodeConfigDefaults.db)),
    listen: optional(Config.string("LISTEN")).pipe(
      Config.mapOrFail((text) =>
        text === undefined
          ? Either.right(undefined)
          : Either.mapLeft(parseHostPort(text), (reason) => invalid(["LISTEN"], reason))
      )
    ),
    active: Config.integer("ACTIVE").pipe(Config.withDefault(NodeConfigDefaults.active)),
    keyFile: Config.string("KEY_FILE").pipe(Config.withDefault(NodeConfigDefaults.keyFile)),
    exitWhenSynced: Config.boolean("EXIT_WHEN_SYNCED").pipe(Config.withDefault(NodeConfigDefaults.exitWhenSynced)),
    maxInboundPeers: optional(Config.integer("MAX_INBOUND_PEERS")),
    chainSource: ChainSourceConfig.config,
    syncDeadline: Config.duration("SYNC_DEADLINE").pipe(Config.withDefault(NodeConfigDefaults.syncDeadline)),
    replyTimeout: optional(Config.duration("REPLY_TIMEOUT")),
    reconcileConcurrency: Config.integer("RECONCILE_CONCURRENCY").pipe(
      Config.validate({ message: "expected a whole number of at least 0", validation: (n) => n >= 0 }),
      Config.map((n) => (n === 0 ? NodeConfigDefaults.reconcileConcurrency : n)), // zero: the default, as above
      Config.withDefault(NodeConfigDefaults.reconcileConcurrency)
    ),
    syncManager: Config.all({
      rotationInterval: optional(Config.duration("ROTATION_INTERVAL")),
      historicalSyncInterval: optional(Config.duration("HISTORICAL_SYNC_INTERVAL")),
      filterConcurrency: optional(Config.integer("FILTER_CONCURRENCY")),
      msgBytesPerSecond: optional(Config.integer("MSG_RATE_BYTES")),
      msgBytesBurst: optional(Config.integer("MSG_BURST_BYTES")),
      peerMsgBytesPerSecond: optional(Config.integer("PEER_MSG_RATE_BYTES"))
    }),
    pipeline: Config.all({
      banThreshold: optional(Config.integer("BAN_THRESHOLD")),
      banDuration: optional(Config.duration("BAN_DURATION")),
      batchSize: optional(Config.integer("BATCH_SIZE")),
      queueBound: optional(Config.integer("QUEUE_BOUND")),
      prematureUpdates: optional(Config.integer("PREMATURE_UPDATES")),
      maxFuture: optional(Config.duration("MAX_FUTURE"))
    }).pipe(
      Config.map((p) => ({
        banThreshold: p.banThreshold,
        banDurationMillis: p.banDuration === undefined ? undefined : Duration.toMillis(p.banDuration),
        batchSize: p.batchSize,
        queueBound: p.queueBound,
        prematureUpdates: p.prematureUpdates,
        maxFutureSeconds: p.maxFuture === undefined ? undefined : Math.floor(Duration.toSeconds(p.maxFuture))
      }))
    )
  }),
  "LNSYNC"
)

// ---------------------------------------------------------------------------------------------------------------
// Our node key

/** The node key file could not be read or created, or does not hold a key. */
export class NodeKeyError extends Data.TaggedError("NodeKeyError")<{ readonly file: string; readonly reason: string }> {
  override get message() {
    return `node key ${this.file}: ${this.reason}`
  }
}

/** Our node key: read from `file`, or created there (mode 0600) on first run so our node id stays stable. */
export const loadNodeKey = (file: string): Effect.Effect<Uint8Array, NodeKeyError> =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" })
      }
      const key = fromHex(fs.readFileSync(file, "utf8").trim())
      if (key.length !== 32) throw new Error("key file must hold 32 bytes in hex")
      return key
    },
    catch: (e) => new NodeKeyError({ file, reason: e instanceof Error ? e.message : String(e) })
  })

// ---------------------------------------------------------------------------------------------------------------
// The node

/**
 * The node in code: plain values for the knobs, layers for the outside world. `store` is required; the other
 * services default to TCP (`TcpPeerConnector.layer`, honouring `listen` and `transport`), the worker pool
 * (`VerifyWorkerPool.layer`) and no chain backend (`ChainSource.layerNone`).
 */
export interface NodeSettings<ES = never, EC = never, EP = never, EV = never> {
  readonly chain: ChainHash
  /** Our BOLT 8 static key (32 bytes). */
  readonly nodePrivateKey: Uint8Array
  /** Accept inbound peers here (port 0 picks a free port). Ignored when `connector` is given. */
  readonly listen?: HostPort | undefined
  /**
   * Where the graph lives: `GraphStoreSqlite.layer({ filename })`, `GraphStorePg.layer({ url })`,
   * `GraphStore.layerMemory`, or your own.
   */
  readonly store: Layer.Layer<GraphStore, ES>
  /** What the pipeline asks the blockchain (BOLT 7 funding outputs); default: none (`ChainSource.layerNone`). */
  readonly chainSource?: Layer.Layer<ChainSource.ChainSource, EC> | undefined
  /** Who dials and accepts peers, and the identity it presents; default: TCP (`TcpPeerConnector.layer`). */
  readonly connector?: Layer.Layer<PeerConnector | NodeIdentity, EP> | undefined
  /**
   * Signature checks: on one worker thread per core (`"workers"`, the default), on the calling thread
   * (`"in-thread"`: small graphs, tests), or any SignatureVerifier layer.
   */
  readonly verifier?: "workers" | "in-thread" | Layer.Layer<SignatureVerifier.SignatureVerifier, EV> | undefined
  /**
   * After the initial sync, one historical sync with every other peer (the Reconciler; default true). Off for nodes
   * that only serve (the simulated peers).
   */
  readonly reconcile?: boolean | undefined
  /** The Reconciler's settings (how many peers at once, its deadlines); absent fields keep the defaults. */
  readonly reconciler?: Partial<Reconciler.ReconcilerSettings> | undefined
  /**
   * The chain tip, for the range queries' block count (GS-9), when something knows it (a chain source). Without
   * it range queries run to the end of the block space, as Eclair's do: right for every chain, where a date-based
   * estimate only fits mainnet (issue 13).
   */
  readonly bestHeight?: Effect.Effect<number> | undefined
  readonly syncManager?: SyncManagerConfigInput | undefined
  readonly syncer?: Partial<Omit<GossipSyncerSettings, "chainHash" | "bestHeight">> | undefined
  readonly pipeline?: Partial<Omit<GossipPipelineConfigValues, "chainHash">> | undefined
  /** Spent-channel watching (with a chain source) and the hourly stale-channel prune (issue 15). */
  readonly chainWatcher?: Partial<ChainWatcher.ChainWatcherConfigValues> | undefined
  readonly transport?: Partial<Omit<TcpPeerConnector.TcpPeerConnectorConfig, "nodePrivateKey">> | undefined
}

export type NodeServices =
  | SyncManager
  | PeerConnector
  | GossipPipeline
  | GraphStore
  | NodeIdentity
  | Reconciler.Reconciler

export type NodeError =
  | GraphStoreError
  | GraphStoreChainMismatch
  | TransportIoError
  | SyncManagerConfigError
  | GossipPipelineConfigError

/** The validated pipeline and SyncManager configurations a node with `settings` runs with (refused at start, SM-3). */
export const layerServiceConfig = (
  settings: Pick<NodeSettings, "chain" | "pipeline" | "syncManager">
): Layer.Layer<GossipPipelineConfig | SyncManagerConfig, GossipPipelineConfigError | SyncManagerConfigError> =>
  Layer.merge(
    layerGossipPipelineConfig({
      ...GossipPipelineDefaults,
      ...stripUndefined(settings.pipeline ?? {}),
      chainHash: settings.chain
    }),
    layerSyncManagerConfig(settings.syncManager ?? {})
  )

const stripUndefined = <A extends object>(a: A): Partial<A> =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Partial<A>

/**
 * A complete node. Build it once per node: two builds are two nodes (the demo runs several in one process). With
 * `reconcile: false` it has no Reconciler.
 */
export function layer<ES = never, EC = never, EP = never, EV = never>(
  settings: NodeSettings<ES, EC, EP, EV> & { readonly reconcile: false }
): Layer.Layer<Exclude<NodeServices, Reconciler.Reconciler>, NodeError | ES | EC | EP | EV>
export function layer<ES = never, EC = never, EP = never, EV = never>(
  settings: NodeSettings<ES, EC, EP, EV>
): Layer.Layer<NodeServices, NodeError | ES | EC | EP | EV>
export function layer<ES, EC, EP, EV>(
  settings: NodeSettings<ES, EC, EP, EV>
):
  | Layer.Layer<NodeServices, NodeError | ES | EC | EP | EV>
  | Layer.Layer<Exclude<NodeServices, Reconciler.Reconciler>, NodeError | ES | EC | EP | EV>
{
  const verifier = settings.verifier === undefined || settings.verifier === "workers"
    ? VerifyWorkerPool.layer()
    : settings.verifier === "in-thread"
    ? SignatureVerifier.layerInThread
    : settings.verifier
  const configs = layerServiceConfig(settings)
  const pipeline = layerGossipPipeline.pipe(
    Layer.provide(Layer.mergeAll(verifier, settings.chainSource ?? ChainSource.layerNone)),
    Layer.provide(configs),
    Layer.provideMerge(settings.store)
  )
  const factory = GossipSyncer.layer.pipe(
    Layer.provide(
      GossipSyncer.configLayerFromSyncManager({
        ...settings.syncer,
        chainHash: settings.chain,
        bestHeight: settings.bestHeight
      })
    ),
    Layer.provide(configs),
    Layer.provide(pipeline)
  )
  const manager = SyncManager.layer.pipe(Layer.provide(factory), Layer.provide(configs))
  const connector = settings.connector ??
    TcpPeerConnector.layer(
      TcpPeerConnector.makeConfig(settings.nodePrivateKey, settings.chain, {
        ...settings.transport,
        listen: settings.listen
      })
    )
  // issue 15: spent channels followed through the chain source, stale ones pruned hourly
  const watcher = ChainWatcher.layer(settings.chainWatcher).pipe(
    Layer.provide(settings.chainSource ?? ChainSource.layerNone),
    Layer.provide(settings.store)
  )
  const core = Layer.mergeAll(manager, connector, pipeline, watcher)
  const node = SyncNode.layer.pipe(Layer.provideMerge(core))
  // The Reconciler starts last, over the running wiring (as the CLI always built it); it only asks idle syncers.
  const reconciler = settings.reconciler === undefined
    ? Reconciler.layer
    : Reconciler.layer.pipe(Layer.provide(Reconciler.layerReconcilerConfig(settings.reconciler)))
  return settings.reconcile === false ? node : reconciler.pipe(Layer.provideMerge(node))
}

/**
 * The store `db` names, as `GraphStorePg.layerFor`: a `postgres://` URL opens PostgreSQL, anything else the SQLite
 * file. The PostgreSQL store (node-postgres, `@effect/sql-pg`) loads only when named, so a node on SQLite never pays
 * for it (issue 18: ~0.06 CPU-seconds at start); a module that cannot load is a broken install, a defect naming it.
 */
const layerStoreFor = (
  db: string,
  chain: ChainHash
): Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  isPostgresUrl(db)
    ? Layer.unwrapEffect(
      Effect.map(
        loadModule("the PostgreSQL store (layers/graph/GraphStorePg)", () => import("./graph/GraphStorePg.js")),
        (GraphStorePg) => GraphStorePg.layer({ url: db, chain })
      )
    )
    : GraphStoreSqlite.layer({ filename: db, chain })

/**
 * The settings a `NodeConfig` describes, given our key (`loadNodeKey(config.keyFile)`): the store at `config.db`
 * (a `postgres://` URL: PostgreSQL, else a SQLite file), TCP, the worker pool, the chain source `config.chainSource`
 * names (probed when the node starts: one that answers nonsense fails the start with `ChainSourceStartupError`).
 * Spread overrides over the result to replace any of them.
 */
export const settingsFromConfig = (
  config: NodeConfig,
  nodePrivateKey: Uint8Array
): NodeSettings<GraphStoreError | GraphStoreChainMismatch, ChainSourceConfig.ChainSourceStartupError> => ({
  chain: Chain.fromName(config.chain),
  nodePrivateKey,
  listen: config.listen,
  store: layerStoreFor(config.db, Chain.fromName(config.chain)),
  chainSource: ChainSourceConfig.layer(config.chainSource, Chain.fromName(config.chain)),
  syncManager: { ...config.syncManager, numActiveSyncers: config.active, pinnedPeers: config.pinned },
  syncer: config.replyTimeout === undefined ? undefined : { replyTimeout: Option.some(config.replyTimeout) },
  pipeline: config.pipeline,
  reconciler: { concurrency: config.reconcileConcurrency },
  transport: config.maxInboundPeers === undefined ? undefined : { maxInboundPeers: config.maxInboundPeers }
})

/**
 * The node an operator configures: `NodeConfig` read from `LNSYNC_*` (or `nodeConfig`), our key loaded (or created)
 * from its key file, then `layer`. `overrides` replace any service (`{ chainSource }`, `{ store }`, …).
 */
export const layerConfig = <ES = GraphStoreError, EC = never, EP = never, EV = never>(
  overrides: Partial<NodeSettings<ES, EC, EP, EV>> = {},
  nodeConfig: Config.Config<NodeConfig> = config
): Layer.Layer<
  NodeServices,
  NodeError | ConfigError.ConfigError | NodeKeyError | ChainSourceConfig.ChainSourceStartupError | ES | EC | EP | EV
> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const c = yield* nodeConfig
      const key = yield* loadNodeKey(c.keyFile)
      return layer<
        ES | GraphStoreError | GraphStoreChainMismatch,
        EC | ChainSourceConfig.ChainSourceStartupError,
        EP,
        EV
      >({
        ...settingsFromConfig(c, key),
        ...overrides
      })
    })
  )
