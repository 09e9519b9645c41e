/**
 * lnsync's public API (`import { Node, GraphStore } from "lnsync"`). Each name is a module, Effect style: the
 * service's interface, Tag, errors, config, `make`, `layer` and `layerX` variants (`GraphStore.GraphStore` is the
 * Tag, `GraphStore.layerMemory` a layer). Test and demo helpers are in `lnsync/testing`; `services/internal/*` is
 * not part of the API.
 */

// The node: one Layer, and its configuration (LNSYNC_*)
export * as Node from "./layers/Node.js"

// Services
export * as ChainSource from "./services/ChainSource.js"
export * as GossipPipeline from "./services/GossipPipeline.js"
export * as GossipPipelineConfig from "./services/GossipPipelineConfig.js"
export * as GossipSyncer from "./services/GossipSyncer.js"
export * as GraphStore from "./services/GraphStore.js"
export * as Metrics from "./services/Metrics.js"
export * as Peer from "./services/Peer.js"
export * as PeerConnector from "./services/PeerConnector.js"
export * as RateLimiter from "./services/RateLimiter.js"
export * as Reconciler from "./services/Reconciler.js"
export * as SignatureVerifier from "./services/SignatureVerifier.js"
export * as SyncManager from "./services/SyncManager.js"
export * as SyncManagerConfig from "./services/SyncManagerConfig.js"
export * as SyncNode from "./services/SyncNode.js"

// Layers binding services to the outside world
export * as GraphStoreSql from "./layers/graph/GraphStoreSql.js"
export * as GraphStoreSqlite from "./layers/graph/GraphStoreSqlite.js"
export * as TcpPeerConnector from "./layers/net/TcpPeerConnector.js"
export * as VerifyWorkerPool from "./layers/verify/VerifyWorkerPool.js"

// Domain: pure values and codecs
export * as Addresses from "./domain/Addresses.js"
export * as BigSize from "./domain/BigSize.js"
export * as Bytes from "./domain/Bytes.js"
export * as Chain from "./domain/Chain.js"
export * as Checksum from "./domain/Checksum.js"
export * as Codec from "./domain/Codec.js"
export * as Features from "./domain/Features.js"
export * as Hex from "./domain/Hex.js"
export * as Limits from "./domain/Limits.js"
export * as Messages from "./domain/Messages.js"
export * as Noise from "./domain/Noise.js"
export * as RawGossip from "./domain/RawGossip.js"
export * as ShortChannelId from "./domain/ShortChannelId.js"
export * as Signatures from "./domain/Signatures.js"
export * as Tlv from "./domain/Tlv.js"
