/**
 * A simulated Lightning network on loopback: lnsync nodes that each hold part of a generated, validly signed graph
 * in memory and serve it over real BOLT 8 listeners. The demo, the end-to-end tests and the sync bench dial them
 * like any real peer.
 */
import type { Scope } from "effect"
import { Context, Effect, ExecutionStrategy, Exit, Layer, Logger, LogLevel, Scope as ScopeModule } from "effect"
import type { GeneratedGraph } from "./GraphGenerator.js"
import { deriveKey } from "./GraphGenerator.js"
import { toHex } from "../domain/Hex.js"
import type { ChainHash, PublicKey } from "../domain/Messages.js"
import type { GraphBatch } from "../services/GraphStore.js"
import { GraphStore, layerMemory } from "../services/GraphStore.js"
import type { PeerAddress } from "../services/PeerConnector.js"
import { NodeIdentity } from "../services/PeerConnector.js"
import * as Node from "../layers/Node.js"

/**
 * Channel i goes to peers i mod P and i+1 mod P (with its updates and its endpoints' node announcements): every
 * channel is held by two peers, so the union needs more than one peer and survives losing any one of them.
 */
export const splitGraph = (graph: GeneratedGraph, peers: number): ReadonlyArray<GraphBatch> => {
  const parts = Array.from({ length: peers }, () => ({
    channels: [] as Array<GraphBatch["channels"][number]>,
    updates: [] as Array<GraphBatch["updates"][number]>,
    nodes: new Set<string>()
  }))
  const holders = new Map<bigint, ReadonlyArray<number>>()
  graph.channelAnnouncements.forEach((ann, i) => {
    const owners = peers === 1 ? [0] : [i % peers, (i + 1) % peers]
    holders.set(ann.shortChannelId, owners)
    for (const p of owners) {
      parts[p]!.channels.push(ann)
      parts[p]!.nodes.add(toHex(ann.nodeId1)).add(toHex(ann.nodeId2))
    }
  })
  for (const update of graph.channelUpdates) {
    for (const p of holders.get(update.shortChannelId) ?? []) parts[p]!.updates.push(update)
  }
  return parts.map((part) => ({
    channels: part.channels,
    updates: part.updates,
    nodes: graph.nodeAnnouncements.filter((n) => part.nodes.has(toHex(n.nodeId)))
  }))
}

export interface ServingPeer {
  readonly nodeId: PublicKey
  readonly address: PeerAddress
  /** Stops this peer (closes its listener and connections), as if its process died. */
  readonly stop: Effect.Effect<void>
}

export interface ServingPeerOptions {
  readonly chain: ChainHash
  /** Label its key is derived from (deterministic node ids across runs). */
  readonly name: string
  /**
   * Outbound bytes per second (global; per peer half of it). lnd's 50 KiB/s per peer would make a mainnet dump
   * take a quarter of an hour; the simulated peers are there to measure the syncing side.
   */
  readonly bytesPerSecond?: number
}

const WRITE_CHUNK = 4096

/** Starts one serving peer holding `part`; it lives until `stop` or until the enclosing scope closes. */
export const servingPeer = (
  part: GraphBatch,
  options: ServingPeerOptions
): Effect.Effect<ServingPeer, Node.NodeError, Scope.Scope> =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const scope = yield* ScopeModule.fork(parent, ExecutionStrategy.sequential)
    const rate = options.bytesPerSecond ?? 64 * 1024 * 1024
    const context = yield* Layer.buildWithScope(
      Node.layer({
        chain: options.chain,
        nodePrivateKey: deriveKey(`lnsync/sim/${options.name}`),
        listen: { host: "127.0.0.1", port: 0 },
        store: layerMemory,
        bestHeight: Effect.succeed(0xffffff),
        // a server only answers: no active syncers, so it never asks us for a historical sync (SM-16.2)
        syncManager: {
          numActiveSyncers: 0,
          msgBytesPerSecond: rate,
          msgBytesBurst: 2 * rate,
          peerMsgBytesPerSecond: rate / 2
        },
        verifier: "in-thread",
        // it only serves: nothing to reconcile
        reconcile: false
      }),
      scope
      // a simulated peer's own chatter (connections, its syncers) would drown the node being demonstrated; every
      // fiber it forks inherits this level
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
    const store = Context.get(context, GraphStore)
    // our own signed data: straight into the store, announcements before the updates and nodes that need them
    for (let i = 0; i < part.channels.length; i += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: part.channels.slice(i, i + WRITE_CHUNK), updates: [], nodes: [] })
    }
    for (let i = 0; i < part.updates.length; i += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: [], updates: part.updates.slice(i, i + WRITE_CHUNK), nodes: [] })
    }
    for (let i = 0; i < part.nodes.length; i += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: [], updates: [], nodes: part.nodes.slice(i, i + WRITE_CHUNK) })
    }
    const identity = Context.get(context, NodeIdentity)
    const listen = identity.listenAddress
    if (listen._tag === "None") return yield* Effect.dieMessage("serving peer is not listening")
    return {
      nodeId: identity.nodeId,
      address: { nodeId: identity.nodeId, host: listen.value.host, port: listen.value.port },
      stop: ScopeModule.close(scope, Exit.void)
    }
  })
