import { Effect } from "effect"
import { Chain, GossipPipeline, GraphStore, GraphStoreSqlite, Node, PeerConnector, SyncManager } from "lnsync"

/** Syncs the public graph from `peers` into the SQLite file `filename`; returns what the graph holds. */
export const syncOnce = (
  peers: ReadonlyArray<PeerConnector.PeerAddress>,
  filename: string,
  nodePrivateKey: Uint8Array
) =>
  Effect.gen(function* () {
    const connector = yield* PeerConnector.PeerConnector
    for (const peer of peers) yield* connector.keepConnected(peer)
    yield* (yield* SyncManager.SyncManager).awaitGraphSynced // the initial historical sync is done (SM-6)
    yield* (yield* GossipPipeline.GossipPipeline).flush // ...and everything it fetched is validated and written
    return yield* (yield* GraphStore.GraphStore).counts
  }).pipe(
    Effect.provide(
      Node.layer({
        chain: Chain.BITCOIN_MAINNET,
        nodePrivateKey,
        store: GraphStoreSqlite.layer({ filename }),
        bestHeight: Effect.succeed(940_000)
      })
    )
  )
