/**
 * A scripted `Peer` for syncer tests: the test pushes what the remote "sends" and reads what the syncer sent, in
 * order, as decoded values (`sendRaw` bytes are decoded with the real codec). Sends can be made to fail, and the
 * connection closed, to exercise disconnect paths.
 */
import { Deferred, Effect, Either, Queue, Ref, Stream } from "effect"
import type { Scope } from "effect"
import { decodeMessage } from "../../src/domain/Codec.js"
import { defaultFeatures } from "../../src/testing/MemoryPeer.js"
import type { Message } from "../../src/domain/Messages.js"
import type { Peer } from "../../src/services/Peer.js"
import { PeerDisconnected } from "../../src/services/Peer.js"
import { nodeId } from "./gossip.js"
import { toHex } from "../../src/domain/Hex.js"

export type Sent =
  | { readonly _tag: "Message"; readonly message: Message }
  | { readonly _tag: "Raw"; readonly raw: Uint8Array; readonly message: Message }

export interface ScriptedPeer {
  readonly peer: Peer
  /** Messages the remote sends (delivered in order on `peer.messages`). */
  readonly push: (...messages: ReadonlyArray<Message>) => Effect.Effect<void>
  /** The next thing the syncer sent (waits for it). */
  readonly next: Effect.Effect<Sent>
  /** The next message the syncer sent, decoded. */
  readonly nextMessage: Effect.Effect<Message>
  /** Everything sent and not yet read. */
  readonly drain: Effect.Effect<ReadonlyArray<Sent>>
  /** Makes every later send fail with PeerDisconnected (the connection stays up). */
  readonly failSends: (fail: boolean) => Effect.Effect<void>
  readonly disconnect: (reason: string) => Effect.Effect<void>
  /** Messages sent so far (read or not). */
  readonly sentCount: Effect.Effect<number>
}

export interface ScriptedPeerOptions {
  readonly id?: number
  readonly gossipQueriesEx?: boolean
}

export const makeScriptedPeer = (options: ScriptedPeerOptions = {}): Effect.Effect<ScriptedPeer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const key = nodeId(options.id ?? 9001)
    const hex = toHex(key)
    const inbound = yield* Queue.unbounded<Message>()
    const sent = yield* Queue.unbounded<Sent>()
    const closed = yield* Deferred.make<string>()
    const failing = yield* Ref.make(false)
    const count = yield* Ref.make(0)
    const close = (reason: string) => Effect.asVoid(Deferred.succeed(closed, reason))
    yield* Effect.addFinalizer(() => close("test scope closed"))
    const guard = Effect.gen(function* () {
      const done = yield* Deferred.poll(closed)
      if (done._tag === "Some") {
        const reason = yield* done.value
        return yield* Effect.fail(new PeerDisconnected({ nodeId: hex, reason }))
      }
      if (yield* Ref.get(failing)) {
        return yield* Effect.fail(new PeerDisconnected({ nodeId: hex, reason: "scripted send failure" }))
      }
    })
    const init = {
      _tag: "Init" as const,
      globalFeatures: new Uint8Array(0),
      features: defaultFeatures,
      networks: undefined,
      remoteAddr: undefined,
      unknownTlvs: []
    }
    const peer: Peer = {
      nodeId: key,
      nodeIdHex: hex,
      direction: "outbound",
      localInit: init,
      remoteInit: init,
      gossipQueries: true,
      gossipQueriesEx: options.gossipQueriesEx ?? false,
      send: (message) =>
        Effect.zipRight(
          guard,
          Effect.zipRight(Ref.update(count, (n) => n + 1), Queue.offer(sent, { _tag: "Message", message }))
        ),
      sendRaw: (raw) =>
        Effect.zipRight(
          guard,
          Effect.gen(function* () {
            const decoded = decodeMessage(raw)
            if (Either.isLeft(decoded)) {
              return yield* Effect.die(new Error(`syncer sent undecodable bytes: ${decoded.left.reason}`))
            }
            yield* Ref.update(count, (n) => n + 1)
            yield* Queue.offer(sent, { _tag: "Raw", raw, message: decoded.right })
          })
        ),
      messages: Stream.fromQueue(inbound).pipe(Stream.interruptWhen(Deferred.await(closed))),
      disconnect: close,
      closed: Effect.map(Deferred.await(closed), (reason) => new PeerDisconnected({ nodeId: hex, reason }))
    }
    return {
      peer,
      push: (...messages) => Effect.asVoid(Queue.offerAll(inbound, messages)),
      next: Queue.take(sent),
      nextMessage: Effect.map(Queue.take(sent), (s) => s.message),
      drain: Effect.map(Queue.takeAll(sent), (c) => [...c]),
      failSends: (fail) => Ref.set(failing, fail),
      disconnect: close,
      sentCount: Ref.get(count)
    }
  })
