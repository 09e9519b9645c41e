import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import * as RateLimiter from "../src/services/RateLimiter.js"

const awaitSleeper = Effect.gen(function* () {
  for (let i = 0; i < 1000; i++) {
    const sleeps = yield* TestClock.sleeps()
    if (sleeps.length > 0) return
    yield* Effect.yieldNow()
  }
})

describe("RateLimiter (GS-48, SM-30)", () => {
  it.effect("GS-48: the burst goes out at once, then bytes wait for the refill", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 2000 })
      yield* limiter.take(2000) // whole burst, no wait
      const fiber = yield* Effect.fork(limiter.take(500))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(499))
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(fiber)
      expect(yield* limiter.balance).toBe(0)
    }))

  it.effect("GS-48: reservations queue fairly: each waits for its own share of the refill", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 1000 })
      yield* limiter.take(1000)
      const a = yield* Effect.fork(limiter.take(1000))
      yield* awaitSleeper
      const b = yield* Effect.fork(limiter.take(1000))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(a)
      expect(b.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(b)
    }))

  it.effect("GS-48/SM-30: cancelling a wait refunds the reservation", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: 100, burstBytes: 1000 })
      yield* limiter.take(1000)
      const waiting = yield* Effect.fork(limiter.take(800))
      yield* awaitSleeper
      expect(yield* limiter.balance).toBe(-800)
      yield* Fiber.interrupt(waiting)
      expect(yield* limiter.balance).toBe(0)
      // without the refund this would wait 16 s
      const next = yield* Effect.fork(limiter.take(100))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(next)
    }))

  it.effect("GS-48/SM-30: the per-peer bucket is applied first, then the global one shared by all peers", () =>
    Effect.gen(function* () {
      const global = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 1000 })
      const peerA = RateLimiter.chain(yield* RateLimiter.make({ bytesPerSecond: 10_000, burstBytes: 10_000 }), global)
      const peerB = RateLimiter.chain(yield* RateLimiter.make({ bytesPerSecond: 10_000, burstBytes: 10_000 }), global)
      yield* peerA.take(1000) // drains the global bucket
      const b = yield* Effect.fork(peerB.take(500)) // plenty in B's own bucket, but the global one is empty
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(499))
      expect(b.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(b)
      // and a small per-peer bucket delays even when the global one is full
      const slowPeer = RateLimiter.chain(yield* RateLimiter.make({ bytesPerSecond: 100, burstBytes: 100 }), global)
      yield* TestClock.adjust(Duration.seconds(5))
      yield* slowPeer.take(100)
      const c = yield* Effect.fork(slowPeer.take(100))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(999))
      expect(c.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(c)
    }))

  it.effect("GS-40/48: paceAll hands items over in order, each paced as its own take would be", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 1000 })
      const groups: Array<{ readonly at: number; readonly items: ReadonlyArray<number> }> = []
      const emit = (ready: ReadonlyArray<number>) =>
        Effect.flatMap(TestClock.currentTimeMillis, (at) => Effect.sync(() => groups.push({ at, items: [...ready] })))
      // 400 + 400 fit the burst; the third takes the bucket to -200 (200 ms), the fourth to -400 (400 ms more)
      const pacing = yield* Effect.fork(RateLimiter.paceAll(limiter, [400, 400, 400, 400, 100], (n) => n, emit))
      for (let ms = 0; ms < 1200; ms += 50) {
        yield* Effect.repeatN(Effect.yieldNow(), 5)
        yield* TestClock.adjust(Duration.millis(50))
      }
      yield* Fiber.join(pacing)
      expect(groups).toEqual([
        { at: 0, items: [400, 400] },
        { at: 200, items: [400] },
        { at: 600, items: [400] },
        { at: 700, items: [100] }
      ])
      expect(yield* limiter.balance).toBe(500) // refilled to 500 by 1200 ms
    }))

  it.effect("GS-48/SM-30: paceAll through chained buckets waits for the slower one; interrupting a wait refunds it", () =>
    Effect.gen(function* () {
      const global = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 1000 })
      const peer = yield* RateLimiter.make({ bytesPerSecond: 100, burstBytes: 500 })
      const sent: Array<number> = []
      const emit = (ready: ReadonlyArray<number>) => Effect.sync(() => sent.push(...ready))
      const pacing = yield* Effect.fork(
        RateLimiter.paceAll(RateLimiter.chain(peer, global), [300, 200, 100], (n) => n, emit)
      )
      yield* awaitSleeper
      // the per-peer bucket (500) lets the first two through; the third waits 1 s for it, and the global one is
      // charged for what went out only
      expect(sent).toEqual([300, 200])
      expect(yield* global.balance).toBe(500)
      yield* Fiber.interrupt(pacing)
      expect(yield* peer.balance).toBe(0)
      expect(sent).toEqual([300, 200])
    }))

  it.effect("a message larger than the burst waits for a full bucket instead of failing", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: 1000, burstBytes: 1000 })
      yield* limiter.take(5000)
      expect(yield* limiter.balance).toBe(0)
    }))

  it.effect("an infinite rate never waits", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.make({ bytesPerSecond: Infinity, burstBytes: 0 })
      for (let i = 0; i < 100; i++) yield* limiter.take(65_535)
    }))
})
