/**
 * The whole gossip-sync node as one Layer: TCP peers (BOLT 8), a GossipSyncer per peer, the validation pipeline on
 * a worker pool, the SyncManager, and a GraphStore of the caller's choice. This is what the CLI runs and what an
 * Effect program provides to get a node:
 *
 *   const node = Node.layer({ chain: BITCOIN_MAINNET, nodePrivateKey, store: GraphStoreSqlite.layer({ filename }) })
 *   Effect.gen(function*() { const m = yield* SyncManager; yield* m.awaitGraphSynced }).pipe(Effect.provide(node))
 *
 * Every service is built once per layer build (the store is shared by the pipeline, the syncers and the caller)
 * and every fiber and socket belongs to the layer's scope.
 */
import { Effect, Layer } from "effect"
import type { ChainHash } from "../domain/Messages.js"
import type { GossipPipelineConfigValues } from "../services/GossipPipelineConfig.js"
import { GossipPipelineDefaults, layerGossipPipelineConfig } from "../services/GossipPipelineConfig.js"
import type { GossipPipelineConfigError } from "../services/GossipPipelineConfig.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../services/GossipPipeline.js"
import type { GossipSyncerSettings } from "../services/GossipSyncer.js"
import * as GossipSyncer from "../services/GossipSyncer.js"
import type { GraphStore, GraphStoreError } from "../services/GraphStore.js"
import * as ChainSource from "../services/ChainSource.js"
import * as SignatureVerifier from "../services/SignatureVerifier.js"
import type { NodeIdentity, PeerConnector } from "../services/PeerConnector.js"
import type { TransportIoError } from "../services/Peer.js"
import { SyncManager } from "../services/SyncManager.js"
import type { SyncManagerConfigError, SyncManagerConfigInput } from "../services/internal/syncManager/config.js"
import { layerSyncManagerConfig } from "../services/internal/syncManager/config.js"
import * as SyncNode from "../services/SyncNode.js"
import * as TcpPeerConnector from "./net/TcpPeerConnector.js"
import * as VerifyWorkerPool from "./verify/VerifyWorkerPool.js"

export interface NodeSettings {
  readonly chain: ChainHash
  /** Our BOLT 8 static key (32 bytes). */
  readonly nodePrivateKey: Uint8Array
  /** Accept inbound peers here (port 0 picks a free port). */
  readonly listen?: { readonly host: string; readonly port: number } | undefined
  /** Where the graph lives: `GraphStoreSqlite.layer({ filename })` or `GraphStore.layerMemory`. */
  readonly store: Layer.Layer<GraphStore, GraphStoreError>
  /** Our idea of the chain tip, for the range queries' block count (GS-9). */
  readonly bestHeight: Effect.Effect<number>
  readonly syncManager?: SyncManagerConfigInput | undefined
  readonly syncer?: Partial<Omit<GossipSyncerSettings, "chainHash" | "bestHeight">> | undefined
  readonly pipeline?: Partial<Omit<GossipPipelineConfigValues, "chainHash">> | undefined
  readonly transport?: Partial<Omit<TcpPeerConnector.TcpPeerConnectorConfig, "nodePrivateKey">> | undefined
  /** Signature checks on one worker thread per core (default) or on the calling thread (small graphs, tests). */
  readonly verifier?: "workers" | "in-thread" | undefined
}

export type NodeServices = SyncManager | PeerConnector | GossipPipeline | GraphStore | NodeIdentity

export type NodeError = GraphStoreError | TransportIoError | SyncManagerConfigError | GossipPipelineConfigError

const connectorLayer = (settings: NodeSettings): Layer.Layer<PeerConnector | NodeIdentity, TransportIoError> =>
  TcpPeerConnector.layer(
    TcpPeerConnector.makeConfig(settings.nodePrivateKey, settings.chain, { ...settings.transport, listen: settings.listen })
  )

/** A complete node. Build it once per node: two builds are two nodes (the demo runs several in one process). */
export const layer = (settings: NodeSettings): Layer.Layer<NodeServices, NodeError> => {
  const store = settings.store
  const verifier = settings.verifier === "in-thread" ? SignatureVerifier.layerInThread : VerifyWorkerPool.layer()
  const pipeline = layerGossipPipeline.pipe(
    Layer.provide(layerGossipPipelineConfig({ ...GossipPipelineDefaults, ...settings.pipeline, chainHash: settings.chain })),
    Layer.provide(Layer.mergeAll(verifier, ChainSource.layerNone)),
    Layer.provideMerge(store)
  )
  const managerConfig = layerSyncManagerConfig(settings.syncManager ?? {})
  const factory = GossipSyncer.layer.pipe(
    Layer.provide(
      GossipSyncer.configLayerFromSyncManager({
        ...settings.syncer,
        chainHash: settings.chain,
        bestHeight: settings.bestHeight
      })
    ),
    Layer.provide(managerConfig),
    Layer.provide(pipeline)
  )
  const manager = SyncManager.layer.pipe(Layer.provide(factory), Layer.provide(managerConfig))
  const connector = connectorLayer(settings)
  const core = Layer.mergeAll(manager, connector, pipeline)
  return SyncNode.layer.pipe(Layer.provideMerge(core))
}

/**
 * Mainnet tip estimate when no chain backend is configured: block 900,000 was mined on 2025-05-31 (unix
 * 1748684000); blocks average ten minutes. Asking a little past the real tip is harmless (peers answer with what
 * they have), asking short would miss the newest channels, so a day of margin is added.
 */
export const estimateMainnetHeight = (nowMillis: number): number =>
  900_000 + Math.floor((nowMillis / 1000 - 1_748_684_000) / 600) + 144

