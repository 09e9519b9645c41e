/**
 * A GossipPipeline double that skips validation: submitted gossip is written to the store at once (announcements,
 * then updates, then nodes) and published on `accepted`, tagged with the peer it came from. Tests can also publish
 * accepted gossip "from other peers" to drive live forwarding (GS-46).
 */
import { Effect, PubSub, Ref, Stream } from "effect"
import type { ChannelAnnouncement, ChannelUpdate, GossipMessage, NodeAnnouncement } from "../../src/domain/Messages.js"
import type { AcceptedGossip, GossipPipelineService } from "../../src/services/GossipPipeline.js"
import type { GraphStoreService } from "../../src/services/GraphStore.js"

export interface PassThroughPipeline {
  readonly service: GossipPipelineService
  /** Everything submitted, in order. */
  readonly submitted: Effect.Effect<ReadonlyArray<AcceptedGossip>>
  readonly publish: (items: ReadonlyArray<AcceptedGossip>) => Effect.Effect<void>
}

export const makePassThroughPipeline = (store: GraphStoreService): Effect.Effect<PassThroughPipeline> =>
  Effect.gen(function* () {
    const hub = yield* PubSub.sliding<AcceptedGossip>(4096)
    const log = yield* Ref.make<ReadonlyArray<AcceptedGossip>>([])
    const write = (fromPeer: string, messages: ReadonlyArray<GossipMessage>) =>
      Effect.gen(function* () {
        const channels: Array<ChannelAnnouncement> = []
        const updates: Array<ChannelUpdate> = []
        const nodes: Array<NodeAnnouncement> = []
        for (const m of messages) {
          if (m._tag === "ChannelAnnouncement") channels.push(m)
          else if (m._tag === "ChannelUpdate") updates.push(m)
          else nodes.push(m)
        }
        yield* Effect.orDie(store.applyBatch({ channels, updates, nodes }))
        const items = messages.map((message) => ({ message, fromPeer }))
        yield* Ref.update(log, (l) => [...l, ...items])
        yield* PubSub.publishAll(hub, items)
      })
    const service: GossipPipelineService = {
      submit: write,
      process: (fromPeer, messages) =>
        Effect.as(write(fromPeer, messages), messages.map(() => ({ _tag: "Accepted" as const }))),
      flush: Effect.void,
      accepted: Effect.map(PubSub.subscribe(hub), (q) => Stream.fromQueue(q)),
      bans: Effect.succeed(Stream.empty),
      isBanned: () => Effect.succeed(false)
    }
    return { service, submitted: Ref.get(log), publish: (items) => Effect.asVoid(PubSub.publishAll(hub, items)) }
  })
