import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Metric, Scope, Stream, TestClock } from "effect"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, GossipMessage, NodeAnnouncement } from "../src/domain/Messages.js"
import * as VerifyWorkerPool from "../src/layers/verify/VerifyWorkerPool.js"
import type { InvalidReason, Verdict } from "../src/services/GossipPipeline.js"
import { GossipPipeline, GossipPipelineMetrics, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { SignatureVerifier } from "../src/services/SignatureVerifier.js"
import type { Key } from "./pipelineFixtures.js"
import { channel, corrupt, DAY, node, nodeAnnouncement, NOW, NOW_MILLIS, scid, update } from "./pipelineFixtures.js"
import { layerNone } from "../src/services/ChainSource.js"

/** mulberry32: a small seeded generator, so the stream is the same on every run. */
const seeded = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const PEER = "02" + "cd".repeat(32)

interface Entry {
  readonly msg: GossipMessage
  readonly corrupted: boolean
  /** For corrupted messages: the reason it must be rejected with once checked. */
  readonly reason?: InvalidReason
  readonly key: number
}

/**
 * 10,000 messages: 2,000 channel announcements, 4,000 updates, 1,500 newer updates, 400 node announcements and
 * 2,100 exact duplicates, 500 (5%) with a corrupted signature. Every message comes after what it depends on (as
 * in a query reply: announcement, updates, node announcements); newer updates and duplicates come later, at random.
 */
const buildStream = () => {
  const rand = seeded(7)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]
  const nodes: Array<Key> = Array.from({ length: 400 }, (_, i) => node(1000 + i))
  const base: Array<{ msg: GossipMessage; kind: "ann" | "upd" | "node"; direction?: 0 | 1; chan?: number }> = []
  const chans: Array<{ ann: ChannelAnnouncement; n1: Key; n2: Key; upd: [number, number] }> = []
  const firstChannelSeen = new Set<number>()
  for (let c = 0; c < 2000; c++) {
    const a = Math.floor(rand() * 400)
    let b = Math.floor(rand() * 400)
    if (b === a) b = (b + 1) % 400
    const ch = channel(nodes[a], nodes[b], scid(700_000 + c, 1 + (c % 5), c % 2))
    const entry = { ann: ch.ann, n1: ch.n1, n2: ch.n2, upd: [0, 0] as [number, number] }
    chans.push(entry)
    base.push({ msg: ch.ann, kind: "ann", chan: c })
    for (const direction of [0, 1] as const) {
      entry.upd[direction] = base.length
      const signer = direction === 0 ? ch.n1 : ch.n2
      base.push({
        msg: update(ch.ann.shortChannelId, direction, NOW - Math.floor(rand() * 10 * DAY), signer),
        kind: "upd",
        direction,
        chan: c
      })
    }
    for (const n of [a, b]) {
      if (firstChannelSeen.has(n)) continue
      firstChannelSeen.add(n)
      base.push({ msg: nodeAnnouncement(nodes[n], NOW - Math.floor(rand() * 5 * DAY)), kind: "node" })
    }
  }
  // nodes never picked for a channel still announce themselves (they stay without a channel)
  for (let n = 0; n < 400; n++) {
    if (!firstChannelSeen.has(n)) base.push({ msg: nodeAnnouncement(nodes[n], NOW - 100), kind: "node" })
  }

  // 1,500 newer updates, at most one per direction, each after the update it supersedes
  const directions = chans.flatMap((_, c) => [[c, 0], [c, 1]] as Array<[number, 0 | 1]>)
  for (let i = directions.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[directions[i], directions[j]] = [directions[j], directions[i]]
  }
  const superseded = new Set<number>() // base index of an update that has a newer one
  const newer: Array<{ msg: ChannelUpdate; after: number }> = []
  for (const [c, direction] of directions.slice(0, 1500)) {
    const original = base[chans[c].upd[direction]].msg as ChannelUpdate
    superseded.add(chans[c].upd[direction])
    const signer = direction === 0 ? chans[c].n1 : chans[c].n2
    newer.push({
      msg: update(original.shortChannelId, direction, original.timestamp + 1 + Math.floor(rand() * 1000), signer, {
        feeBaseMsat: 2000
      }),
      after: chans[c].upd[direction]
    })
  }

  // 500 corruptions among the originals, never an update that a newer one supersedes (its verdict would depend
  // on whether both land in the same batch)
  const corruptible: Array<number> = []
  for (let i = 0; i < base.length; i++) if (!superseded.has(i)) corruptible.push(i)
  const corruptBase = new Map<number, InvalidReason>()
  const corruptNewer = new Set<number>()
  while (corruptBase.size + corruptNewer.size < 500) {
    if (rand() < 0.2) {
      corruptNewer.add(Math.floor(rand() * newer.length))
      continue
    }
    const i = pick(corruptible)
    if (corruptBase.has(i)) continue
    const kind = base[i].kind
    if (kind === "ann") {
      const which = Math.floor(rand() * 4)
      base[i] = { ...base[i], msg: corrupt(base[i].msg, which) }
      corruptBase.set(i, which < 2 ? "BadNodeSignature" : "BadBitcoinSignature")
    } else {
      base[i] = { ...base[i], msg: corrupt(base[i].msg) }
      corruptBase.set(i, kind === "upd" ? "BadSignature" : "BadNodeSignature")
    }
  }

  const B = base.length
  const entries: Array<Entry> = base.map((b, i) => ({
    msg: b.msg,
    corrupted: corruptBase.has(i),
    ...(corruptBase.has(i) ? { reason: corruptBase.get(i) } : {}),
    key: i
  }))
  newer.forEach((n, k) => {
    const bad = corruptNewer.has(k)
    entries.push({
      msg: bad ? corrupt(n.msg) : n.msg,
      corrupted: bad,
      ...(bad ? { reason: "BadSignature" as const } : {}),
      key: n.after + 0.5 + rand() * (B - n.after)
    })
  })
  // duplicates of intact originals fill the stream up to 10,000
  while (entries.length < 10_000) {
    const i = Math.floor(rand() * B)
    if (corruptBase.has(i)) continue
    entries.push({ msg: base[i].msg, corrupted: false, key: i + 0.5 + rand() * (B - i) })
  }
  entries.sort((x, y) => x.key - y.key)

  // The oracle: what must land.
  const landed = new Set<number>()
  chans.forEach((_, i) => {
    const annIndex = base.findIndex((b) => b.kind === "ann" && b.chan === i)
    if (!corruptBase.has(annIndex)) landed.add(i)
  })
  const expectedUpdates = new Map<bigint, [number, number]>()
  const nodeHasLanded = new Set<string>()
  for (const i of landed) {
    const c = chans[i]
    nodeHasLanded.add(toHex(c.n1.pub))
    nodeHasLanded.add(toHex(c.n2.pub))
    const ts: [number, number] = [0, 0]
    for (const direction of [0, 1] as const) {
      const idx = c.upd[direction]
      if (!corruptBase.has(idx)) ts[direction] = (base[idx].msg as ChannelUpdate).timestamp
    }
    expectedUpdates.set(c.ann.shortChannelId, ts)
  }
  newer.forEach((n, k) => {
    if (corruptNewer.has(k)) return
    const ts = expectedUpdates.get(n.msg.shortChannelId)
    if (ts !== undefined) ts[n.msg.channelFlags & 1] = Math.max(ts[n.msg.channelFlags & 1], n.msg.timestamp)
  })
  const expectedNodes = new Map<string, number>()
  base.forEach((b, i) => {
    if (b.kind !== "node" || corruptBase.has(i)) return
    const m = b.msg as NodeAnnouncement
    if (nodeHasLanded.has(toHex(m.nodeId))) expectedNodes.set(toHex(m.nodeId), m.timestamp)
  })
  // every corrupted message that can be checked (its channel/node landed) is counted with its reason
  const expectedInvalid = new Map<InvalidReason, number>()
  const checkable = (e: Entry): boolean => {
    switch (e.msg._tag) {
      case "ChannelAnnouncement":
        return true
      case "ChannelUpdate":
        return expectedUpdates.has(e.msg.shortChannelId)
      case "NodeAnnouncement":
        return nodeHasLanded.has(toHex(e.msg.nodeId))
    }
  }
  for (const e of entries) {
    if (e.corrupted && e.reason !== undefined && checkable(e)) {
      expectedInvalid.set(e.reason, (expectedInvalid.get(e.reason) ?? 0) + 1)
    }
  }
  return { entries, landed, chans, expectedUpdates, expectedNodes, expectedInvalid, checkable }
}

const REASONS: ReadonlyArray<InvalidReason> = ["BadNodeSignature", "BadBitcoinSignature", "BadSignature"]

describe("GossipPipeline under load", () => {
  it.scoped(
    "BOLT 7 + SM-33: 10,000 mixed messages, 5% corrupted: exactly the valid ones land, every invalid one is counted with its reason, the peer is banned",
    () => {
      const s = buildStream()
      const layer = layerGossipPipeline.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            layerMemory,
            VerifyWorkerPool.layer({ threads: 2 }),
            layerNone,
            layerGossipPipelineConfig({ batchSize: 512 })
          )
        )
      )
      return Effect.gen(function* () {
        yield* TestClock.setTime(NOW_MILLIS)
        const p = yield* GossipPipeline
        const store = yield* GraphStore
        const bans = yield* p.bans
        expect(s.entries.length).toBe(10_000)
        expect(s.entries.filter((e) => e.corrupted).length).toBe(500)
        const bansBefore = (yield* Metric.value(GossipPipelineMetrics.bans)).count
        const before = new Map<InvalidReason, number>()
        for (const r of REASONS) {
          before.set(r, (yield* Metric.value(Metric.tagged(GossipPipelineMetrics.invalid, "reason", r))).count)
        }

        const verdicts: Array<Verdict> = []
        for (let i = 0; i < s.entries.length; i += 400) {
          verdicts.push(...(yield* p.process(PEER, s.entries.slice(i, i + 400).map((e) => e.msg))))
        }

        // exactly the valid ones land
        const counts = yield* store.counts
        expect(counts.channels).toBe(s.landed.size)
        const held = yield* store.channels(s.chans.map((c) => c.ann.shortChannelId))
        expect(held.size).toBe(s.landed.size)
        for (const [id, [t1, t2]] of s.expectedUpdates) {
          const h = held.get(id)
          expect([h?.timestamp1, h?.timestamp2]).toEqual([t1, t2])
        }
        const nodes = yield* store.nodes(s.chans.flatMap((c) => [c.n1.pub, c.n2.pub]))
        let withAnnouncement = 0
        for (const [hex, state] of nodes) {
          if (state.timestamp > 0) withAnnouncement += 1
          expect(state.timestamp).toBe(s.expectedNodes.get(hex) ?? 0)
        }
        expect(withAnnouncement).toBe(s.expectedNodes.size)

        // no intact message is ever Invalid; each corrupted one is Invalid with its reason, or held (Premature)
        // when nothing can check it yet
        s.entries.forEach((e, i) => {
          const v = verdicts[i]
          if (!e.corrupted) {
            expect(v._tag).not.toBe("Invalid")
            return
          }
          if (v._tag === "Invalid") expect(v.reason).toBe(e.reason)
          else expect(v._tag).toBe("Premature")
          if (e.msg._tag !== "NodeAnnouncement") expect(v._tag === "Invalid").toBe(s.checkable(e))
        })
        // every invalid one counted with its reason (metrics include held node announcements checked later)
        for (const r of REASONS) {
          const now = (yield* Metric.value(Metric.tagged(GossipPipelineMetrics.invalid, "reason", r))).count
          expect(now - (before.get(r) ?? 0)).toBe(s.expectedInvalid.get(r) ?? 0)
        }
        const total = [...s.expectedInvalid.values()].reduce((a, b) => a + b, 0)
        expect(total).toBeGreaterThan(100)

        // past lnd's threshold of 100: banned, once
        expect(yield* p.isBanned(PEER)).toBe(true)
        const [event] = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(bans, 1)))
        expect(event.nodeIdHex).toBe(PEER)
        // scores are added per batch: the ban comes with the batch that crosses 100
        const score = Number(/^(\d+) invalid gossip messages/.exec(event.reason)?.[1])
        expect(score).toBeGreaterThanOrEqual(100)
        expect(score).toBeLessThan(100 + 400)
        expect((yield* Metric.value(GossipPipelineMetrics.bans)).count - bansBefore).toBe(1)
      }).pipe(Effect.provide(layer))
    }
  )

  it.effect("the pipeline's worker threads all exit when its scope closes (no stray threads)", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const scope = yield* Scope.make()
      const pool = yield* VerifyWorkerPool.make({ threads: 2 }).pipe(Scope.extend(scope))
      const workers = pool.workers()
      const exited: Array<number> = []
      for (const w of workers) w.once("exit", () => exited.push(w.threadId))
      const layer = layerGossipPipeline.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            layerMemory,
            Layer.succeed(SignatureVerifier, pool.verifier),
            layerNone,
            layerGossipPipelineConfig({})
          )
        )
      )
      const ctx = yield* Layer.buildWithScope(layer, scope)
      const p = Context.get(ctx, GossipPipeline)
      const { ann, n1 } = channel(node(1), node(2), scid(900_000))
      const verdicts = yield* p.process("02" + "11".repeat(32), [ann, update(ann.shortChannelId, 0, NOW - 1, n1)])
      expect(verdicts.map((v) => v._tag)).toEqual(["Accepted", "Accepted"])
      expect(exited.length).toBe(0)
      yield* Scope.close(scope, Exit.void)
      expect(exited.length).toBe(2)
      expect(pool.workers().length).toBe(0)
    }))
})
