import { Effect } from "effect"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as Node from "../src/layers/Node.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { PeerConnector, type PeerAddress } from "../src/services/PeerConnector.js"
import { SyncManager } from "../src/services/SyncManager.js"

/** Syncs the public graph from `peers` into the SQLite file `filename`; returns what the graph holds. */
export const syncOnce = (peers: ReadonlyArray<PeerAddress>, filename: string, nodePrivateKey: Uint8Array) =>
  Effect.gen(function* () {
    const connector = yield* PeerConnector
    for (const peer of peers) yield* connector.keepConnected(peer)
    yield* (yield* SyncManager).awaitGraphSynced // the initial historical sync is done (SM-6)
    yield* (yield* GossipPipeline).flush // ...and everything it fetched is validated and written
    return yield* (yield* GraphStore).counts
  }).pipe(
    Effect.provide(
      Node.layer({
        chain: BITCOIN_MAINNET,
        nodePrivateKey,
        store: GraphStoreSqlite.layer({ filename }),
        bestHeight: Effect.succeed(940_000)
      })
    )
  )
