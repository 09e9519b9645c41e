import { describe, expect, it } from "vitest"
import {
  InFlight,
  Misbehaviour,
  PrematureNodes,
  PrematureUpdates
} from "../src/services/internal/gossipPipeline/state.js"
import { channel, node, nodeAnnouncement, NOW, scid, update } from "./pipelineFixtures.js"

describe("GossipPipeline bounded state", () => {
  const c = channel(node(1), node(2), scid(1))

  it("BOLT 7 premature updates: never more than the bound, per channel and in all; expired ones are dropped", () => {
    const cache = new PrematureUpdates(50, 3, 1000)
    for (let i = 0; i < 40; i++) cache.add(update(scid(100 + i), 0, NOW - 10, c.n1), "p", 0)
    // five updates for one channel: the three newest are kept
    for (let t = 1; t <= 5; t++) cache.add(update(scid(500), 0, NOW - 100 + t, c.n1), "p", 0)
    expect(cache.size).toBe(43)
    // twenty more channels: over the bound, the least recently touched channels go first
    for (let i = 0; i < 20; i++) cache.add(update(scid(200 + i), 0, NOW - 10, c.n1), "p", 0)
    expect(cache.size).toBe(50)
    expect(cache.take(scid(100), 0)).toEqual([])
    expect(cache.take(scid(112), 0)).toEqual([])
    expect(cache.take(scid(113), 0).length).toBe(1)
    expect(cache.take(scid(500), 0).map((h) => h.msg.timestamp)).toEqual([NOW - 97, NOW - 96, NOW - 95])
    expect(cache.take(scid(219), 0).length).toBe(1)
    expect(cache.take(scid(219), 0)).toEqual([])
    for (let i = 0; i < 5000; i++) cache.add(update(scid(1000 + (i % 700)), i & 1 ? 1 : 0, NOW - i, c.n1), "p", 0)
    expect(cache.size).toBeLessThanOrEqual(50)
    // identical bytes are held once
    const u = update(scid(7), 1, NOW, c.n2)
    cache.add(u, "a", 0)
    cache.add(u, "b", 0)
    expect(cache.take(scid(7), 0).length).toBe(1)
    cache.add(u, "a", 0)
    expect(cache.take(scid(7), 1001)).toEqual([])
  })

  it("BOLT 7 premature node announcements: newest per node, bounded, expiring", () => {
    const cache = new PrematureNodes(10, 1000)
    for (let i = 0; i < 30; i++) cache.add(`n${i}`, nodeAnnouncement(node(3), NOW - i), "p", 0)
    expect(cache.size).toBe(10)
    expect(cache.has("n0")).toBe(false)
    cache.add("x", nodeAnnouncement(node(3), NOW - 5), "p", 0)
    cache.add("x", nodeAnnouncement(node(3), NOW - 9), "p", 0) // older: ignored
    expect(cache.take("x", 0)?.msg.timestamp).toBe(NOW - 5)
    cache.add("y", nodeAnnouncement(node(3), NOW), "p", 0)
    expect(cache.take("y", 1001)).toBeUndefined()
  })

  it("SM-33: at most maxTrackedPeers scores and bans are remembered", () => {
    const m = new Misbehaviour({ threshold: 3, banDurationMillis: 100, scoreResetMillis: 50, maxTrackedPeers: 5 })
    for (let i = 0; i < 100; i++) m.offend(`peer${i}`, 1, "BadSignature", 0)
    expect(m.trackedPeers).toBe(5)
    for (let i = 0; i < 100; i++) expect(m.offend(`bad${i}`, 3, "BadSignature", 0)?.nodeIdHex).toBe(`bad${i}`)
    expect(m.bannedPeers).toBe(5)
    expect(m.isBanned("bad99", 99)).toBe(true)
    expect(m.isBanned("bad99", 100)).toBe(false)
    // a banned peer's further offences raise no second ban
    expect(m.offend("bad98", 10, "BadSignature", 1)).toBeUndefined()
  })

  it("the in-flight overlay forgets written batches only", () => {
    const f = new InFlight()
    f.addChannel(1n, c.n1.pub, c.n2.pub, "a", "b", 1)
    f.addChannel(2n, c.n1.pub, c.n2.pub, "a", "c", 2) // "a" re-set by batch 2
    f.addNode("a", 1, 1)
    f.addUpdate(5n, 10, 1)
    f.addUpdate(5n, 20, 3) // newer, by batch 3
    f.release(1)
    expect([...f.channels.keys()]).toEqual([2n])
    expect(f.nodes.size).toBe(0)
    expect([...f.nodesWithChannel.keys()].sort()).toEqual(["a", "c"])
    expect(f.updates.get(5n)?.timestamp).toBe(20)
    f.release(2)
    expect(f.channels.size + f.nodesWithChannel.size).toBe(0)
    f.release(3)
    expect(f.size).toBe(0)
  })
})
