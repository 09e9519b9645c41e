import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Metric, Option, Ref, Stream, TestClock } from "effect"
import { BITCOIN_TESTNET3 } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import type { GossipMessage } from "../src/domain/Messages.js"
import type { FundingCheck } from "../src/services/ChainSource.js"
import { ChainSource, ChainSourceError, layerNone } from "../src/services/ChainSource.js"
import type { Verdict } from "../src/services/GossipPipeline.js"
import {
  GossipPipeline,
  GossipPipelineMetrics,
  GossipPipelineStoreFailed,
  layer as layerGossipPipeline
} from "../src/services/GossipPipeline.js"
import type { GossipPipelineConfigValues } from "../src/services/GossipPipelineConfig.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { GraphStore, GraphStoreError, layerMemory, makeMemory } from "../src/services/GraphStore.js"
import { SignatureVerifier } from "../src/services/SignatureVerifier.js"
import {
  channel,
  corrupt,
  countingVerifier,
  DAY,
  failingStore,
  node,
  NOW,
  NOW_MILLIS,
  nodeAnnouncement,
  nodeAnnouncementWithAddressBytes,
  scid,
  update
} from "./pipelineFixtures.js"

const PEER = "02" + "aa".repeat(32)
const OTHER = "03" + "bb".repeat(32)

interface HarnessOptions {
  readonly config?: Partial<GossipPipelineConfigValues>
  readonly chain?: Layer.Layer<ChainSource>
  readonly store?: Layer.Layer<GraphStore>
  readonly verifier?: Layer.Layer<SignatureVerifier>
}

const harness = (options: HarnessOptions = {}) =>
  layerGossipPipeline.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        options.store ?? layerMemory,
        options.verifier ?? countingVerifier().layer,
        options.chain ?? layerNone,
        layerGossipPipelineConfig(options.config ?? {})
      )
    )
  )

const tags = (vs: ReadonlyArray<Verdict>) =>
  vs.map((v) => (v._tag === "Invalid" || v._tag === "Stale" ? `${v._tag}:${v.reason}` : v._tag))

const start = TestClock.setTime(NOW_MILLIS)

describe("GossipPipeline", () => {
  it.effect("BOLT 7: a channel, its two updates and both node announcements are accepted and stored", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1, n2 } = channel(node(1), node(2), scid(800_000))
      const msgs: Array<GossipMessage> = [
        ann,
        update(ann.shortChannelId, 0, NOW - 60, n1),
        update(ann.shortChannelId, 1, NOW - 30, n2),
        nodeAnnouncement(n1, NOW - 10),
        nodeAnnouncement(n2, NOW - 20)
      ]
      expect(tags(yield* p.process(PEER, msgs))).toEqual(["Accepted", "Accepted", "Accepted", "Accepted", "Accepted"])
      // 4 + 1 + 1 + 1 + 1 signatures, each checked once
      expect(counting.state.checked).toBe(8)
      const held = (yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)
      expect(held?.timestamp1).toBe(NOW - 60)
      expect(held?.timestamp2).toBe(NOW - 30)
      const nodes = yield* store.nodes([n1.pub, n2.pub])
      expect(nodes.get(toHex(n1.pub))?.timestamp).toBe(NOW - 10)
      expect(nodes.get(toHex(n2.pub))?.timestamp).toBe(NOW - 20)
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: chain_hash must be ours (announcement and update for another chain are ignored)", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(1), node(2), scid(800_001), { chainHash: BITCOIN_TESTNET3 })
      const good = channel(node(1), node(2), scid(800_002))
      const verdicts = yield* p.process(PEER, [
        ann,
        good.ann,
        update(good.ann.shortChannelId, 0, NOW - 5, good.n1, { chainHash: BITCOIN_TESTNET3 }),
        update(ann.shortChannelId, 0, NOW - 5, n1)
      ])
      expect(tags(verdicts)).toEqual(["Invalid:WrongChain", "Accepted", "Invalid:WrongChain", "Premature"])
      expect((yield* store.counts).channels).toBe(1)
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: validly signed gossip for another chain is ignored, counted, and costs its sender nothing", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const wrongChain = Metric.tagged(GossipPipelineMetrics.invalid, "reason", "WrongChain")
      const before = (yield* Metric.value(wrongChain)).count
      const foreign = Array.from(
        { length: 4 },
        (_, i) => channel(node(1), node(2), scid(800_050 + i), { chainHash: BITCOIN_TESTNET3 })
      )
      const verdicts = yield* p.process(PEER, [
        ...foreign.map((c) => c.ann),
        ...foreign.map((c) => update(c.ann.shortChannelId, 0, NOW - 5, c.n1, { chainHash: BITCOIN_TESTNET3 }))
      ])
      expect(tags(verdicts).filter((t) => t === "Invalid:WrongChain")).toHaveLength(8)
      expect((yield* Metric.value(wrongChain)).count).toBe(before + 8)
      // threshold 1: one offence would have banned PEER
      expect(yield* p.isBanned(PEER)).toBe(false)
      // a real offence still counts
      const [a, b] = Buffer.compare(node(1).pub, node(2).pub) < 0 ? [node(2), node(1)] : [node(1), node(2)]
      const { ann } = channel(a, b, scid(800_060), { keepOrder: true })
      expect(tags(yield* p.process(PEER, [ann]))).toEqual(["Invalid:NodeIdsNotOrdered"])
      expect(yield* p.isBanned(PEER)).toBe(true)
    }).pipe(Effect.provide(harness({ config: { banThreshold: 1 } }))))

  it.effect("BOLT 7: node_id_1 must be the lesser key (a correctly signed swapped announcement is invalid)", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const [a, b] = Buffer.compare(node(3).pub, node(4).pub) < 0 ? [node(4), node(3)] : [node(3), node(4)]
      const swapped = channel(a, b, scid(800_003), { keepOrder: true })
      const same = channel(a, a, scid(800_004), { keepOrder: true })
      expect(tags(yield* p.process(PEER, [swapped.ann, same.ann]))).toEqual([
        "Invalid:NodeIdsNotOrdered",
        "Invalid:NodeIdsNotOrdered"
      ])
      expect(counting.state.checked).toBe(0) // rejected before any signature work
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: all four channel_announcement signatures must be valid", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const anns = [0, 1, 2, 3].map((which) => corrupt(channel(node(5), node(6), scid(800_010 + which)).ann, which))
      expect(tags(yield* p.process(PEER, anns))).toEqual([
        "Invalid:BadNodeSignature",
        "Invalid:BadNodeSignature",
        "Invalid:BadBitcoinSignature",
        "Invalid:BadBitcoinSignature"
      ])
      expect((yield* store.counts).channels).toBe(0)
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: a channel_update must be signed by the node its direction bit names", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1, n2 } = channel(node(7), node(8), scid(800_020))
      yield* p.process(PEER, [ann])
      const wrong = yield* p.process(PEER, [
        update(ann.shortChannelId, 0, NOW - 10, n2), // direction 0 is node_id_1's
        update(ann.shortChannelId, 1, NOW - 10, n1) // direction 1 is node_id_2's
      ])
      expect(tags(wrong)).toEqual(["Invalid:BadSignature", "Invalid:BadSignature"])
      const right = yield* p.process(PEER, [
        update(ann.shortChannelId, 0, NOW - 50, n1),
        update(ann.shortChannelId, 1, NOW - 50, n2)
      ])
      expect(tags(right)).toEqual(["Accepted", "Accepted"])
      const held = (yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)
      expect([held?.timestamp1, held?.timestamp2]).toEqual([NOW - 50, NOW - 50])
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: a newer invalid update does not hide an older valid one in the same batch", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(7), node(9), scid(800_021))
      const verdicts = yield* p.process(PEER, [
        ann,
        update(ann.shortChannelId, 0, NOW - 100, n1),
        corrupt(update(ann.shortChannelId, 0, NOW - 10, n1)),
        update(ann.shortChannelId, 0, NOW - 200, n1)
      ])
      expect(tags(verdicts)).toEqual(["Accepted", "Accepted", "Invalid:BadSignature", "Duplicate"])
      expect((yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)?.timestamp1).toBe(NOW - 100)
    }).pipe(Effect.provide(harness())))

  it.scoped("BOLT 7: a node_announcement is kept only for a node with a known channel; held until one arrives", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const accepted = yield* p.accepted
      const { ann, n1, n2 } = channel(node(10), node(11), scid(800_030))
      const early = nodeAnnouncement(n1, NOW - 5)
      expect(tags(yield* p.process(OTHER, [early]))).toEqual(["Premature"])
      expect((yield* store.counts).nodes).toBe(0)
      // a node with no channel at all: held too, then nothing ever applies it
      expect(tags(yield* p.process(PEER, [nodeAnnouncement(node(99), NOW - 5)]))).toEqual(["Premature"])
      // the channel arrives: the held announcement is applied with it
      expect(tags(yield* p.process(PEER, [ann, corrupt(nodeAnnouncement(n2, NOW - 5))]))).toEqual([
        "Accepted",
        "Invalid:BadNodeSignature"
      ])
      const nodes = yield* store.nodes([n1.pub, n2.pub, node(99).pub])
      expect(nodes.get(toHex(n1.pub))?.timestamp).toBe(NOW - 5)
      expect(nodes.get(toHex(n2.pub))?.timestamp).toBe(0)
      expect(nodes.has(toHex(node(99).pub))).toBe(false)
      const seen = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(accepted, 2)))
      expect(seen.map((a) => [a.message._tag, a.fromPeer])).toEqual([
        ["ChannelAnnouncement", PEER],
        ["NodeAnnouncement", OTHER] // the peer that sent it
      ])
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: held node announcements expire ('held briefly')", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(12), node(13), scid(800_031))
      yield* p.process(PEER, [nodeAnnouncement(n1, NOW - 5)])
      yield* TestClock.adjust("11 minutes")
      expect(tags(yield* p.process(PEER, [ann]))).toEqual(["Accepted"])
      expect((yield* store.nodes([n1.pub])).get(toHex(n1.pub))?.timestamp).toBe(0)
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: a channel_update for an unseen channel is premature, then applied when the announcement arrives", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1, n2 } = channel(node(14), node(15), scid(800_040))
      const u1 = update(ann.shortChannelId, 0, NOW - 10, n1)
      const u2 = update(ann.shortChannelId, 1, NOW - 10, n2)
      expect(tags(yield* p.process(OTHER, [u1, u2, u1]))).toEqual(["Premature", "Premature", "Premature"])
      expect(counting.state.checked).toBe(0) // nothing to check them against yet
      expect(tags(yield* p.process(PEER, [ann]))).toEqual(["Accepted"])
      const held = (yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)
      expect([held?.timestamp1, held?.timestamp2]).toEqual([NOW - 10, NOW - 10])
      expect(counting.state.checked).toBe(6)
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: the premature-update cache is bounded (oldest channels evicted, few per channel)", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const chans = Array.from({ length: 30 }, (_, i) => channel(node(20), node(21), scid(810_000 + i)))
      // 30 channels x 1 update, cache of 20: the first 10 are evicted
      yield* p.process(PEER, chans.map((c) => update(c.ann.shortChannelId, 0, NOW - 10, c.n1)))
      // one channel gets 5 updates with 2 per channel allowed: the 2 newest stay
      const busy = channel(node(20), node(22), scid(820_000))
      yield* p.process(PEER, [1, 2, 3, 4, 5].map((t) => update(busy.ann.shortChannelId, 0, NOW - 100 + t, busy.n1)))
      yield* p.process(PEER, [...chans.map((c) => c.ann), busy.ann])
      const held = yield* store.channels([...chans.map((c) => c.ann.shortChannelId), busy.ann.shortChannelId])
      const withUpdate = chans.filter((c) => (held.get(c.ann.shortChannelId)?.timestamp1 ?? 0) > 0).length
      // 20 slots: the 5 busy updates entered last (2 kept), so 18 of the 30 single updates survived
      expect(withUpdate).toBe(18)
      expect(chans.slice(0, 12).some((c) => (held.get(c.ann.shortChannelId)?.timestamp1 ?? 0) > 0)).toBe(false)
      expect(held.get(busy.ann.shortChannelId)?.timestamp1).toBe(NOW - 95)
    }).pipe(Effect.provide(harness({ config: { prematureUpdates: 20, prematureUpdatesPerChannel: 2 } }))))

  it.effect("BOLT 7: older-or-equal timestamps are Duplicate without any signature work (CLN#7972)", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const { ann, n1, n2 } = channel(node(30), node(31), scid(800_050))
      const u = update(ann.shortChannelId, 0, NOW - 100, n1)
      const na = nodeAnnouncement(n2, NOW - 100)
      yield* p.process(PEER, [ann, u, na])
      const before = counting.state.checked
      const verdicts = yield* p.process(OTHER, [
        ann,
        u,
        update(ann.shortChannelId, 0, NOW - 100, n1, { feeBaseMsat: 7 }), // equal timestamp, other content
        update(ann.shortChannelId, 0, NOW - 500, n1),
        na,
        nodeAnnouncement(n2, NOW - 200)
      ])
      expect(tags(verdicts)).toEqual(["Duplicate", "Duplicate", "Duplicate", "Duplicate", "Duplicate", "Duplicate"])
      expect(counting.state.checked).toBe(before)
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: duplicates inside one batch and across unwritten batches are checked once", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(32), node(33), scid(800_060))
      const u = update(ann.shortChannelId, 0, NOW - 100, n1)
      const d0 = (yield* Metric.value(GossipPipelineMetrics.duplicate)).count
      // the same announcement and update from two peers in one submit round
      yield* p.submit(PEER, [ann, u])
      yield* p.submit(OTHER, [ann, u, ann])
      yield* p.flush
      expect(counting.state.checked).toBe(5)
      expect((yield* store.counts).channels).toBe(1)
      expect((yield* Metric.value(GossipPipelineMetrics.duplicate)).count).toBe(d0 + 3)
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: a second, conflicting announcement for a held channel is not re-verified", () => {
    const counting = countingVerifier()
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const first = channel(node(34), node(35), scid(800_061))
      const rival = channel(node(36), node(37), scid(800_061))
      expect(tags(yield* p.process(PEER, [first.ann, rival.ann]))).toEqual(["Accepted", "Duplicate"])
      expect(counting.state.checked).toBe(4)
    }).pipe(Effect.provide(harness({ verifier: counting.layer })))
  })

  it.effect("BOLT 7: gossip older than two weeks or over an hour in the future is Stale; zero timestamp is Invalid", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const { ann, n1, n2 } = channel(node(40), node(41), scid(800_070))
      yield* p.process(PEER, [ann])
      const verdicts = yield* p.process(PEER, [
        update(ann.shortChannelId, 0, NOW - 14 * DAY - 1, n1),
        update(ann.shortChannelId, 1, NOW + 3601, n2),
        update(ann.shortChannelId, 1, 0, n2),
        nodeAnnouncement(n1, NOW - 15 * DAY),
        nodeAnnouncement(n2, NOW + 7200),
        update(ann.shortChannelId, 0, NOW - 14 * DAY + 60, n1),
        update(ann.shortChannelId, 1, NOW + 3000, n2)
      ])
      expect(tags(verdicts)).toEqual([
        "Stale:TooOld",
        "Stale:InFuture",
        "Invalid:ZeroTimestamp",
        "Stale:TooOld",
        "Stale:InFuture",
        "Accepted",
        "Accepted"
      ])
    }).pipe(Effect.provide(harness())))

  it.effect("lnd#10835: signatures are checked over the raw bytes, trailing bytes included; decoded fields must match them", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1, n2 } = channel(node(42), node(43), scid(800_080))
      const extended = update(ann.shortChannelId, 0, NOW - 10, n1, { trailing: Uint8Array.of(1, 2, 3, 4) })
      const lying = { ...update(ann.shortChannelId, 1, NOW - 10, n2), timestamp: NOW - 5 } // decoded ≠ raw
      const verdicts = yield* p.process(PEER, [ann, extended, lying])
      expect(tags(verdicts)).toEqual(["Accepted", "Accepted", "Invalid:Malformed"])
      const served = yield* Stream.runCollect(store.gossipForChannels([ann.shortChannelId]))
      const raws = Chunk.toReadonlyArray(served).map((g) => toHex(g.raw))
      expect(raws).toContain(toHex(extended.raw))
    }).pipe(Effect.provide(harness())))

  it.effect("lnd#10835: the signature checked is the one in the raw bytes, not the decoded field", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const { ann, n1, n2 } = channel(node(42), node(44), scid(800_081))
      const good = update(ann.shortChannelId, 0, NOW - 10, n1)
      const badRaw = corrupt(update(ann.shortChannelId, 1, NOW - 10, n2))
      const verdicts = yield* p.process(PEER, [
        ann,
        { ...good, signature: new Uint8Array(64) }, // decoded field spoiled, raw intact
        { ...badRaw, signature: update(ann.shortChannelId, 1, NOW - 10, n2).signature } // raw spoiled
      ])
      expect(tags(verdicts)).toEqual(["Accepted", "Accepted", "Invalid:BadSignature"])
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7/9: unknown even feature bits are rejected, unknown odd bits are fine", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const evenChan = channel(node(44), node(45), scid(800_090), { features: Uint8Array.of(0x04) }) // bit 2
      const oddChan = channel(node(44), node(45), scid(800_091), { features: Uint8Array.of(0x08) }) // bit 3
      const k = oddChan.n1
      const verdicts = yield* p.process(PEER, [
        evenChan.ann,
        oddChan.ann,
        nodeAnnouncement(k, NOW - 10, {
          features: Uint8Array.of(0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)
        }), // bit 96
        nodeAnnouncement(k, NOW - 5, {
          features: Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80)
        }) // bits 97, 7
      ])
      expect(tags(verdicts)).toEqual([
        "Invalid:UnknownEvenFeature",
        "Accepted",
        "Invalid:UnknownEvenFeature",
        "Accepted"
      ])
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: malformed addresses (truncated descriptor, two DNS names, non-ASCII hostname) are rejected", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const { ann, n1 } = channel(node(46), node(47), scid(800_100))
      yield* p.process(PEER, [ann])
      const dns = (name: string) => [5, name.length, ...Buffer.from(name, "latin1"), 0x26, 0x07]
      const verdicts = yield* p.process(PEER, [
        nodeAnnouncementWithAddressBytes(n1, NOW - 50, Uint8Array.of(1, 127, 0, 0)), // IPv4 cut short
        nodeAnnouncementWithAddressBytes(n1, NOW - 40, Uint8Array.from([...dns("a.example"), ...dns("b.example")])),
        nodeAnnouncementWithAddressBytes(n1, NOW - 30, Uint8Array.from(dns("caf\u00e9.example"))),
        // an unknown type stops parsing: fine (BOLT 7: "SHOULD ignore the first address descriptor that does NOT match")
        nodeAnnouncementWithAddressBytes(n1, NOW - 20, Uint8Array.from([...dns("ok.example"), 42, 1, 2, 3]))
      ])
      expect(tags(verdicts)).toEqual([
        "Invalid:MalformedAddresses",
        "Invalid:MalformedAddresses",
        "Invalid:MalformedAddresses",
        "Accepted"
      ])
    }).pipe(Effect.provide(harness())))

  it.effect("BOLT 7: the ChainSource can refuse a funding output; a failing source costs the peer nothing", () => {
    const bad = scid(800_111)
    const broken = scid(800_112)
    const chain = Layer.succeed(ChainSource, {
      checkFunding: (anns) =>
        anns.some((a) => a.shortChannelId === broken)
          ? Effect.fail(new ChainSourceError({ operation: "getTxOut", cause: "backend down" }))
          : Effect.succeed(
            anns.map((a): FundingCheck =>
              a.shortChannelId === bad
                ? { _tag: "Invalid", reason: "output spent" }
                : { _tag: "Valid", capacitySat: 100_000n }
            )
          )
    })
    return Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const ok = channel(node(48), node(49), scid(800_110))
      const spent = channel(node(48), node(50), bad)
      expect(tags(yield* p.process(PEER, [ok.ann, spent.ann]))).toEqual(["Accepted", "Invalid:FundingOutputInvalid"])
      const down = channel(node(48), node(51), broken)
      expect(tags(yield* p.process(OTHER, [down.ann]))).toEqual(["Invalid:FundingOutputInvalid"])
      expect((yield* store.counts).channels).toBe(1)
      // threshold 1: PEER's one offence banned it; OTHER's backend failure did not
      expect(yield* p.isBanned(PEER)).toBe(true)
      expect(yield* p.isBanned(OTHER)).toBe(false)
    }).pipe(Effect.provide(harness({ chain, config: { banThreshold: 1 } })))
  })

  it.scoped("SM-33: past the threshold a peer is banned for 48 h, with a BanEvent; others are not", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const bans = yield* p.bans
      const bansBefore = (yield* Metric.value(GossipPipelineMetrics.bans)).count
      const bad = Array.from({ length: 5 }, (_, i) => corrupt(channel(node(60), node(61), scid(830_000 + i)).ann))
      yield* p.process(PEER, bad.slice(0, 4))
      yield* p.process(OTHER, bad.slice(0, 4))
      expect(yield* p.isBanned(PEER)).toBe(false)
      yield* p.process(PEER, bad.slice(4))
      expect(yield* p.isBanned(PEER)).toBe(true)
      expect(yield* p.isBanned(OTHER)).toBe(false)
      const [event] = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(bans, 1)))
      expect(event.nodeIdHex).toBe(PEER)
      expect(event.untilMillis).toBe(NOW_MILLIS + 48 * 3600 * 1000)
      expect(event.reason).toContain("BadNodeSignature")
      expect((yield* Metric.value(GossipPipelineMetrics.bans)).count).toBe(bansBefore + 1)
      yield* TestClock.adjust("48 hours")
      expect(yield* p.isBanned(PEER)).toBe(false)
    }).pipe(Effect.provide(harness({ config: { banThreshold: 5 } }))))

  it.effect("SM-33: scores are forgotten 48 h after the last offence; Stale TooOld and Premature are no offence", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const bad = Array.from({ length: 6 }, (_, i) => corrupt(channel(node(62), node(63), scid(831_000 + i)).ann))
      yield* p.process(PEER, bad.slice(0, 2))
      const { ann, n1 } = channel(node(62), node(64), scid(831_100))
      // old and premature gossip: no points
      yield* p.process(PEER, [
        update(ann.shortChannelId, 0, NOW - 20 * DAY, n1),
        update(ann.shortChannelId, 0, NOW - 1, n1)
      ])
      yield* TestClock.adjust("49 hours")
      yield* p.process(PEER, bad.slice(2, 4))
      expect(yield* p.isBanned(PEER)).toBe(false) // 2 + 2 would have been 4 >= 3
      yield* p.process(PEER, bad.slice(4, 5))
      expect(yield* p.isBanned(PEER)).toBe(true)
    }).pipe(Effect.provide(harness({ config: { banThreshold: 3 } }))))

  it.effect("SM-33: banThreshold 0 disables banning", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const bad = Array.from({ length: 3 }, (_, i) => corrupt(channel(node(65), node(66), scid(832_000 + i)).ann))
      yield* p.process(PEER, bad)
      expect(yield* p.isBanned(PEER)).toBe(false)
    }).pipe(Effect.provide(harness({ config: { banThreshold: 0 } }))))

  it.effect("metrics: invalid and stale counters are tagged by reason", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const invalidBad = Metric.tagged(GossipPipelineMetrics.invalid, "reason", "BadBitcoinSignature")
      const staleOld = Metric.tagged(GossipPipelineMetrics.stale, "reason", "TooOld")
      const i0 = (yield* Metric.value(invalidBad)).count
      const s0 = (yield* Metric.value(staleOld)).count
      const a0 = (yield* Metric.value(GossipPipelineMetrics.accepted)).count
      const { ann, n1 } = channel(node(67), node(68), scid(833_000))
      yield* p.process(PEER, [
        corrupt(channel(node(67), node(69), scid(833_001)).ann, 2),
        corrupt(channel(node(67), node(69), scid(833_002)).ann, 3),
        ann,
        update(ann.shortChannelId, 0, NOW - 30 * DAY, n1)
      ])
      expect((yield* Metric.value(invalidBad)).count).toBe(i0 + 2)
      expect((yield* Metric.value(staleOld)).count).toBe(s0 + 1)
      expect((yield* Metric.value(GossipPipelineMetrics.accepted)).count).toBe(a0 + 1)
    }).pipe(Effect.provide(harness())))

  it.effect("backpressure: submit waits while queueBound messages are unwritten, and resumes once written", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const slowStore = Layer.effect(
        GraphStore,
        Effect.map(makeMemory, (inner): GraphStoreService => ({
          ...inner,
          applyBatch: (batch) => Effect.zipRight(Deferred.await(gate), inner.applyBatch(batch))
        }))
      )
      yield* Effect.gen(function* () {
        yield* start
        const p = yield* GossipPipeline
        const store = yield* GraphStore
        const chans = Array.from({ length: 12 }, (_, i) => channel(node(70), node(71), scid(840_000 + i)).ann)
        yield* p.submit(PEER, chans.slice(0, 8)) // fills the bound: 8 admitted, none written
        const blocked = yield* Effect.fork(p.submit(PEER, chans.slice(8)))
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
        expect(Option.isNone(yield* Fiber.poll(blocked))).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(blocked)
        yield* p.flush
        expect((yield* store.counts).channels).toBe(12)
      }).pipe(Effect.provide(harness({ store: slowStore, config: { batchSize: 4, queueBound: 8 } })))
    }))

  it.effect("a store that always fails: every flush fails with GossipPipelineStoreFailed; process with the store's error", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann } = channel(node(72), node(73), scid(850_000))
      yield* p.submit(PEER, [ann])
      const flushed = yield* Effect.flip(p.flush)
      expect(flushed).toBeInstanceOf(GossipPipelineStoreFailed)
      expect(flushed.cause.operation).toBe("applyBatch")
      expect(flushed.message).toContain("disk I/O error")
      // nothing written since: the store is still failing, so is the next flush
      expect((yield* Effect.either(p.flush))._tag).toBe("Left")
      // and after more failed writes
      yield* p.submit(PEER, [channel(node(72), node(74), scid(850_001)).ann])
      expect((yield* Effect.either(p.flush))._tag).toBe("Left")
      expect((yield* Effect.either(p.flush))._tag).toBe("Left")
      const processed = yield* Effect.flip(p.process(PEER, [ann]))
      expect(processed).toBeInstanceOf(GraphStoreError)
      expect((yield* store.counts).channels).toBe(0)
    }).pipe(Effect.provide(harness({ store: failingStore(Effect.succeed(true)) }))))

  it.effect("a store whose reads fail too: the batch is unchecked, and flush fails", () =>
    Effect.gen(function* () {
      yield* start
      const p = yield* GossipPipeline
      yield* p.submit(PEER, [channel(node(72), node(73), scid(850_010)).ann])
      const flushed = yield* Effect.flip(p.flush)
      expect(flushed._tag).toBe("GossipPipelineStoreFailed")
      expect((yield* Effect.either(p.flush))._tag).toBe("Left")
    }).pipe(Effect.provide(harness({ store: failingStore(Effect.succeed(true), { reads: true }) }))))

  it.effect("a store that fails once, then recovers: flushes fail until a write succeeds; a lost write is reported", () =>
    Effect.gen(function* () {
      const fail = yield* Ref.make(true)
      yield* Effect.gen(function* () {
        yield* start
        const p = yield* GossipPipeline
        const store = yield* GraphStore
        const chans = Array.from({ length: 4 }, (_, i) => channel(node(75), node(76), scid(850_100 + i)).ann)
        yield* p.submit(PEER, [chans[0]])
        expect((yield* Effect.either(p.flush))._tag).toBe("Left")
        expect((yield* Effect.either(p.flush))._tag).toBe("Left")
        // recovered: the next write succeeds, and so does the flush after it
        yield* Ref.set(fail, false)
        yield* p.submit(PEER, [chans[1]])
        yield* p.flush
        yield* p.flush
        expect((yield* store.counts).channels).toBe(1)
        // a write fails, the next succeeds before anyone flushes: the lost write is still reported, once
        yield* Ref.set(fail, true)
        yield* p.submit(PEER, [chans[2]])
        // nothing to write, so no store call: answered once chans[2]'s batch is through
        const foreign = channel(node(75), node(77), scid(850_200), { chainHash: BITCOIN_TESTNET3 }).ann
        expect(tags(yield* p.process(OTHER, [foreign]))).toEqual(["Invalid:WrongChain"])
        yield* Ref.set(fail, false)
        yield* p.submit(PEER, [chans[3]])
        expect((yield* Effect.either(p.flush))._tag).toBe("Left")
        yield* p.flush
        expect((yield* store.counts).channels).toBe(2)
      }).pipe(Effect.provide(harness({ store: failingStore(Ref.get(fail)), config: { batchSize: 1 } })))
    }))
})
