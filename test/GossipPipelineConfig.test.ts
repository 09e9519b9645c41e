import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import {
  GossipPipelineConfig,
  GossipPipelineDefaults,
  layerGossipPipelineConfig
} from "../src/services/GossipPipelineConfig.js"

describe("GossipPipelineConfig", () => {
  it.effect("SM-33 defaults (lnd): threshold 100, 48 h bans, 10,000 tracked peers; mainnet", () =>
    Effect.gen(function* () {
      const c = yield* GossipPipelineConfig
      expect(c).toEqual(GossipPipelineDefaults)
      expect([c.banThreshold, c.banDurationMillis, c.maxTrackedPeers]).toEqual([100, 48 * 3600 * 1000, 10_000])
      expect(c.chainHash).toEqual(BITCOIN_MAINNET)
    }).pipe(Effect.provide(layerGossipPipelineConfig())))

  it.effect("invalid values are refused at start", () =>
    Effect.gen(function* () {
      const bad = [
        layerGossipPipelineConfig({ batchSize: 0 }),
        layerGossipPipelineConfig({ batchSize: 4096, queueBound: 1024 }),
        layerGossipPipelineConfig({ banThreshold: -1 }),
        layerGossipPipelineConfig({ chainHash: new Uint8Array(31) })
      ]
      for (const layer of bad) {
        const r = yield* Effect.either(Effect.provide(GossipPipelineConfig, layer))
        expect(r._tag).toBe("Left")
      }
    }))
})
