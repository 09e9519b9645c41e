/**
 * A PeerConnector over peers the caller hands it (e.g. one side of `MemoryPeer.makePeerPair`): `attach` publishes
 * Connected, `detach` (or `disconnect`/`ban`) publishes Disconnected, once per connection and in order. No dialing:
 * `connect` fails. Used by the tests and by the whole-network simulation (`simulation/Network.ts`), which also
 * detaches a peer whose remote end hangs up.
 */
import type { Scope } from "effect"
import { Effect, PubSub, Ref, Stream } from "effect"
import type { Peer } from "../services/Peer.js"
import type { PeerConnectorService, PeerEvent } from "../services/PeerConnector.js"
import { PeerConnectError } from "../services/PeerConnector.js"

export interface MemoryPeerConnector {
  readonly service: PeerConnectorService
  readonly attach: (peer: Peer) => Effect.Effect<void>
  readonly detach: (nodeIdHex: string, reason: string) => Effect.Effect<void>
  /** Publishes an event as is (to script races: a late event about an older connection). */
  readonly publish: (event: PeerEvent) => Effect.Effect<void>
  /** Every `ban` call, in order. */
  readonly bans: Ref.Ref<
    ReadonlyArray<{ readonly nodeIdHex: string; readonly untilMillis: number; readonly reason: string }>
  >
}

export const makeMemoryPeerConnector: Effect.Effect<MemoryPeerConnector, never, Scope.Scope> = Effect.gen(function* () {
  const hub = yield* Effect.acquireRelease(PubSub.unbounded<PeerEvent>(), PubSub.shutdown)
  const peers = yield* Ref.make<ReadonlyMap<string, Peer>>(new Map())
  const bans = yield* Ref.make<ReadonlyArray<{ nodeIdHex: string; untilMillis: number; reason: string }>>([])

  // taken out of the map atomically, so two detaches of one connection publish one Disconnected
  const detach = (nodeIdHex: string, reason: string) =>
    Effect.gen(function* () {
      const peer = yield* Ref.modify(peers, (m): readonly [Peer | undefined, ReadonlyMap<string, Peer>] => {
        const p = m.get(nodeIdHex)
        if (p === undefined) return [undefined, m]
        const next = new Map(m)
        next.delete(nodeIdHex)
        return [p, next]
      })
      if (peer === undefined) return
      yield* peer.disconnect(reason)
      yield* PubSub.publish(hub, { _tag: "Disconnected", nodeIdHex, reason })
    })

  const service: PeerConnectorService = {
    events: Effect.map(PubSub.subscribe(hub), (queue) => Stream.fromQueue(queue)),
    connected: Ref.get(peers),
    connect: (address) =>
      Effect.fail(
        new PeerConnectError({ address: `${address.host}:${address.port}`, reason: "memory connector does not dial" })
      ),
    keepConnected: () => Effect.void,
    disconnect: detach,
    ban: (nodeIdHex, untilMillis, reason) =>
      Ref.update(bans, (l) => [...l, { nodeIdHex, untilMillis, reason }]).pipe(
        Effect.zipRight(detach(nodeIdHex, reason))
      )
  }

  return {
    service,
    bans,
    detach,
    publish: (event) => Effect.asVoid(PubSub.publish(hub, event)),
    attach: (peer) =>
      Ref.update(peers, (m) => new Map(m).set(peer.nodeIdHex, peer)).pipe(
        Effect.zipRight(PubSub.publish(hub, { _tag: "Connected", peer })),
        Effect.asVoid
      )
  }
})
