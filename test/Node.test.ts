/**
 * `Node.layer`: any outside-world service can be replaced (store, chain source, connector, signature verifier), and
 * the node reconciles unless told not to.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Ref, TestClock } from "effect"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import * as Node from "../src/layers/Node.js"
import { ChainSource } from "../src/services/ChainSource.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GraphStore, makeMemory } from "../src/services/GraphStore.js"
import { NodeIdentity, PeerConnector } from "../src/services/PeerConnector.js"
import { Reconciler } from "../src/services/Reconciler.js"
import { makeInThread, SignatureVerifier } from "../src/services/SignatureVerifier.js"
import { makeMemoryPeerConnector } from "./support/MemoryPeerConnector.js"
import { channel, node, NOW_MILLIS, scid } from "./pipelineFixtures.js"

const identity = { nodeId: node(99).pub, listenAddress: Option.none() }

describe("Node.layer", () => {
  it.scoped("store, chain source, connector and verifier are the caller's when given; it reconciles by default", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const store = yield* makeMemory
      const connector = yield* makeMemoryPeerConnector
      const verified = yield* Ref.make(0)
      const checked = yield* Ref.make(0)
      const inThread = makeInThread()
      const nodeLayer = Node.layer({
        chain: BITCOIN_MAINNET,
        nodePrivateKey: new Uint8Array(32).fill(7),
        bestHeight: Effect.succeed(900_000),
        store: Layer.succeed(GraphStore, store),
        connector: Layer.mergeAll(
          Layer.succeed(PeerConnector, connector.service),
          Layer.succeed(NodeIdentity, identity)
        ),
        verifier: Layer.succeed(SignatureVerifier, {
          ...inThread,
          verifyPacked: (packed, count) =>
            Effect.zipRight(Ref.update(verified, (n) => n + count), inThread.verifyPacked(packed, count))
        }),
        chainSource: Layer.succeed(ChainSource, {
          checkFunding: (anns) =>
            Effect.as(Ref.update(checked, (n) => n + anns.length), anns.map(() => ({ _tag: "Unchecked" as const })))
        })
      })
      yield* Effect.gen(function* () {
        expect(yield* PeerConnector).toBe(connector.service)
        expect(yield* NodeIdentity).toBe(identity)
        expect(yield* GraphStore).toBe(store)
        expect(yield* (yield* Reconciler).pending).toBe(0)
        const { ann } = channel(node(1), node(2), scid(800_000))
        const [verdict] = yield* (yield* GossipPipeline).process("test", [ann])
        expect(verdict).toEqual({ _tag: "Accepted" })
        expect(yield* Ref.get(verified)).toBe(4) // the announcement's four signatures, by our verifier
        expect(yield* Ref.get(checked)).toBe(1) // its funding output, asked of our chain source
        expect((yield* store.counts).channels).toBe(1)
      }).pipe(Effect.provide(nodeLayer))
    }))

  it.scoped("reconcile: false builds a node without a Reconciler", () =>
    Effect.gen(function* () {
      const connector = yield* makeMemoryPeerConnector
      const nodeLayer = Node.layer({
        chain: BITCOIN_MAINNET,
        nodePrivateKey: new Uint8Array(32).fill(7),
        bestHeight: Effect.succeed(900_000),
        store: Layer.effect(GraphStore, makeMemory),
        connector: Layer.mergeAll(
          Layer.succeed(PeerConnector, connector.service),
          Layer.succeed(NodeIdentity, identity)
        ),
        verifier: "in-thread",
        reconcile: false
      })
      const reconciler = yield* Effect.serviceOption(Reconciler).pipe(Effect.provide(nodeLayer))
      expect(Option.isNone(reconciler)).toBe(true)
    }))
})
