import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { BITCOIN_MAINNET, BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { GossipPipelineConfigLive } from "../src/layers/GossipPipelineConfigLive.js"
import { GossipPipelineConfig, GossipPipelineDefaults, layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"

const fromEnv = (env: Record<string, string>) =>
  GossipPipelineConfigLive.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))))

describe("GossipPipelineConfig", () => {
  it.effect("SM-33 defaults (lnd): threshold 100, 48 h bans, 10,000 tracked peers; mainnet", () =>
    Effect.gen(function* () {
      const c = yield* GossipPipelineConfig
      expect(c).toEqual(GossipPipelineDefaults)
      expect([c.banThreshold, c.banDurationMillis, c.maxTrackedPeers]).toEqual([100, 48 * 3600 * 1000, 10_000])
      expect(c.chainHash).toEqual(BITCOIN_MAINNET)
    }).pipe(Effect.provide(fromEnv({}))))

  it.effect("values come from Config (GOSSIP_*)", () =>
    Effect.gen(function* () {
      const c = yield* GossipPipelineConfig
      expect(c.chainHash).toEqual(BITCOIN_REGTEST)
      expect(c.banThreshold).toBe(0)
      expect(c.banDurationMillis).toBe(3600 * 1000)
      expect(c.batchSize).toBe(256)
      expect(c.maxFutureSeconds).toBe(600)
    }).pipe(
      Effect.provide(
        fromEnv({
          GOSSIP_CHAIN: "regtest",
          GOSSIP_BAN_THRESHOLD: "0",
          GOSSIP_BAN_DURATION: "1 hours",
          GOSSIP_BATCH_SIZE: "256",
          GOSSIP_MAX_FUTURE: "10 minutes"
        })
      )
    ))

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
