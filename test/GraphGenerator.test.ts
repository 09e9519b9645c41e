import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { decodeMessage } from "../src/domain/Codec.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { toHex } from "../src/domain/Hex.js"
import { verifyChannelAnnouncement, verifyChannelUpdate, verifyNodeAnnouncement } from "../src/domain/Signatures.js"
import { loadMainnetTopology } from "../src/testing/MainnetTopology.js"

const now = 1_780_000_000

describe("GraphGenerator (synthetic signed gossip for demo, tests and benches)", () => {
  const graph = generateGraph({ seed: 7, channels: 300, chainHash: BITCOIN_REGTEST, now })

  it("is deterministic: the same seed gives the same bytes", () => {
    const again = generateGraph({ seed: 7, channels: 300, chainHash: BITCOIN_REGTEST, now })
    expect(again.channelAnnouncements.map((a) => toHex(a.raw))).toEqual(
      graph.channelAnnouncements.map((a) => toHex(a.raw))
    )
    expect(again.nodeAnnouncements.map((a) => toHex(a.raw))).toEqual(graph.nodeAnnouncements.map((a) => toHex(a.raw)))
    const other = generateGraph({ seed: 8, channels: 300, chainHash: BITCOIN_REGTEST, now })
    expect(toHex(other.channelAnnouncements[0]!.raw)).not.toBe(toHex(graph.channelAnnouncements[0]!.raw))
  })

  it("BOLT 7: every message decodes, is signed by the right keys, node_id_1 < node_id_2, scids unique and ascending", () => {
    expect(graph.channelAnnouncements).toHaveLength(300)
    expect(graph.channelUpdates).toHaveLength(600)
    const nodesById = new Map(graph.nodeAnnouncements.map((n) => [toHex(n.nodeId), n]))
    let previous = -1n
    const anns = new Map<bigint, (typeof graph.channelAnnouncements)[number]>()
    for (const ann of graph.channelAnnouncements) {
      expect(Either.isRight(decodeMessage(ann.raw))).toBe(true)
      expect(verifyChannelAnnouncement(ann).ok).toBe(true)
      expect(Buffer.compare(ann.nodeId1, ann.nodeId2)).toBe(-1)
      expect(ann.shortChannelId > previous).toBe(true)
      previous = ann.shortChannelId
      anns.set(ann.shortChannelId, ann)
      expect(nodesById.has(toHex(ann.nodeId1)) && nodesById.has(toHex(ann.nodeId2))).toBe(true)
    }
    for (const update of graph.channelUpdates) {
      const ann = anns.get(update.shortChannelId)!
      const signer = (update.channelFlags & 1) === 0 ? ann.nodeId1 : ann.nodeId2
      expect(verifyChannelUpdate(update, signer)).toBe(true)
      expect(update.timestamp).toBeLessThanOrEqual(now)
      expect(update.timestamp).toBeGreaterThan(now - 14 * 24 * 3600)
    }
    for (const node of graph.nodeAnnouncements) {
      expect(Either.isRight(decodeMessage(node.raw))).toBe(true)
      expect(verifyNodeAnnouncement(node)).toBe(true)
    }
  })

  it("samples the real mainnet shape and keeps a hub-heavy degree distribution", () => {
    const topology = loadMainnetTopology()
    expect(topology?.channels.length).toBe(50_808)
    const sampled = generateGraph({ seed: 1, channels: 400, chainHash: BITCOIN_REGTEST, now, topology })
    expect(sampled.channelAnnouncements).toHaveLength(400)
    const degree = new Map<string, number>()
    for (const a of sampled.channelAnnouncements) {
      for (const id of [a.nodeId1, a.nodeId2]) degree.set(toHex(id), (degree.get(toHex(id)) ?? 0) + 1)
    }
    const max = Math.max(...degree.values())
    expect(max).toBeGreaterThan(5) // hubs exist
    expect(sampled.nodeAnnouncements).toHaveLength(degree.size)
  })
})
