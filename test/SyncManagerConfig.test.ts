import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Layer } from "effect"
import {
  layerSyncManagerConfig,
  SyncManagerConfig,
  SyncManagerDefaults,
  validateSyncManagerConfig
} from "../src/services/SyncManagerConfig.js"
import { fakeNodeIdHex } from "./support/FakeSyncer.js"

const refused = (input: Parameters<typeof validateSyncManagerConfig>[0]): string => {
  const result = validateSyncManagerConfig(input)
  if (Either.isRight(result)) throw new Error("expected the configuration to be refused")
  return result.left.reason
}

describe("SyncManagerConfig", () => {
  it("SM-2: lnd's defaults when nothing is set, but serving rates of 1 MB/s per peer and 2 MB/s in all (issue 16)", () => {
    const values = Either.getOrThrow(validateSyncManagerConfig({}))
    expect(values.numActiveSyncers).toBe(3)
    expect(Duration.toMillis(values.rotationInterval)).toBe(20 * 60_000)
    expect(Duration.toMillis(values.historicalSyncInterval)).toBe(60 * 60_000)
    expect(values.filterConcurrency).toBe(5)
    expect(values.msgBytesPerSecond).toBe(2_000_000)
    expect(values.msgBytesBurst).toBe(4_000_000)
    expect(values.peerMsgBytesPerSecond).toBe(1_000_000)
    expect(values.peerMsgBytesBurst).toBe(2_000_000)
    expect(values.pinnedPeers.size).toBe(0)
  })

  it("SM-2: zero rates, burst, concurrency and intervals mean the default; numActiveSyncers = 0 is kept", () => {
    const values = Either.getOrThrow(
      validateSyncManagerConfig({
        numActiveSyncers: 0,
        rotationInterval: 0,
        historicalSyncInterval: Duration.zero,
        filterConcurrency: 0,
        msgBytesPerSecond: 0,
        msgBytesBurst: 0,
        peerMsgBytesPerSecond: 0
      })
    )
    expect(values.numActiveSyncers).toBe(0)
    expect(Duration.toMillis(values.rotationInterval)).toBe(Duration.toMillis(SyncManagerDefaults.rotationInterval))
    expect(Duration.toMillis(values.historicalSyncInterval)).toBe(
      Duration.toMillis(SyncManagerDefaults.historicalSyncInterval)
    )
    expect(values.filterConcurrency).toBe(SyncManagerDefaults.filterConcurrency)
    expect(values.msgBytesBurst).toBe(SyncManagerDefaults.msgBytesBurst)
  })

  it("SM-3: a global burst below the largest wire message (65535) is refused", () => {
    expect(refused({ msgBytesBurst: 65534, msgBytesPerSecond: 60_000, peerMsgBytesPerSecond: 1000 })).toMatch(/65535/)
    // exactly 65535 is the smallest burst accepted
    const ok = validateSyncManagerConfig({
      msgBytesBurst: 65535,
      msgBytesPerSecond: 60_000,
      peerMsgBytesPerSecond: 1000
    })
    expect(Either.isRight(ok)).toBe(true)
  })

  it("SM-3: a global burst not greater than the global rate is refused", () => {
    expect(refused({ msgBytesBurst: 100_000, msgBytesPerSecond: 100_000 })).toMatch(/greater than msgBytesPerSecond/)
    expect(refused({ msgBytesBurst: 100_000, msgBytesPerSecond: 200_000 })).toMatch(/greater than msgBytesPerSecond/)
  })

  it("SM-3: a global rate not greater than the per-peer rate is refused", () => {
    expect(refused({ msgBytesPerSecond: 51_200 })).toMatch(/peerMsgBytesPerSecond/)
    expect(refused({ peerMsgBytesPerSecond: 8_000_000 })).toMatch(/peerMsgBytesPerSecond/)
    expect(refused({ peerMsgBytesPerSecond: 9_000_000, msgBytesBurst: 20_000_000 })).toMatch(/peerMsgBytesPerSecond/)
  })

  it("SM-3: custom values that satisfy the checks are kept; per-peer burst is twice the per-peer rate (GS-48)", () => {
    const values = Either.getOrThrow(
      validateSyncManagerConfig({ msgBytesPerSecond: 200_000, msgBytesBurst: 300_000, peerMsgBytesPerSecond: 10_000 })
    )
    expect([values.msgBytesPerSecond, values.msgBytesBurst, values.peerMsgBytesPerSecond]).toEqual([
      200_000,
      300_000,
      10_000
    ])
    expect(values.peerMsgBytesBurst).toBe(20_000)
  })

  it("SM-1: nonsense counts and intervals are refused", () => {
    expect(refused({ numActiveSyncers: -1 })).toMatch(/numActiveSyncers/)
    expect(refused({ numActiveSyncers: 1.5 })).toMatch(/numActiveSyncers/)
    expect(refused({ filterConcurrency: -2 })).toMatch(/filterConcurrency/)
    expect(refused({ rotationInterval: Duration.infinity })).toMatch(/rotationInterval/)
  })

  it("SM-5: pinned peers are 33-byte node ids, normalised to lower case; anything else is refused", () => {
    const id = fakeNodeIdHex(7)
    const values = Either.getOrThrow(validateSyncManagerConfig({ pinnedPeers: [id.toUpperCase(), ` ${id} `] }))
    expect([...values.pinnedPeers]).toEqual([id])
    expect(refused({ pinnedPeers: ["04" + id.slice(2)] })).toMatch(/pinned/)
    expect(refused({ pinnedPeers: [id.slice(0, 64)] })).toMatch(/pinned/)
  })

  it.effect("SM-3: the plain-values layer refuses to build on invalid values", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Layer.build(layerSyncManagerConfig({ msgBytesBurst: 1000 })).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      const values = yield* SyncManagerConfig.pipe(Effect.provide(layerSyncManagerConfig({ numActiveSyncers: 5 })))
      expect(values.numActiveSyncers).toBe(5)
    }))
})
