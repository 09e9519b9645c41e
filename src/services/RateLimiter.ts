/**
 * A token bucket in bytes (GS-48, SM-30), driven by Effect's Clock so tests use TestClock.
 *
 * Like Go's `rate.Limiter` that lnd uses, a caller *reserves* its bytes at once — the balance may go negative — and
 * then sleeps for the time the bucket needs to refill to zero. Reservations therefore queue up fairly in call order
 * without a lock held across the wait. If the wait is interrupted (peer gone, syncer stopped) the reservation is
 * refunded, so a cancelled message costs nothing.
 */
import { Clock, Duration, Effect, Ref } from "effect"

export interface ByteRateLimiterConfig {
  /** Sustained rate; `Infinity` disables the limiter. */
  readonly bytesPerSecond: number
  /** Bucket size: the most that can go out at once after a quiet period. */
  readonly burstBytes: number
}

export interface ByteRateLimiter {
  /** Waits until `bytes` may be sent. A message larger than the burst waits for a full bucket. */
  readonly take: (bytes: number) => Effect.Effect<void>
  /** Current balance (negative while reservations are waiting). */
  readonly balance: Effect.Effect<number>
}

interface Bucket {
  readonly tokens: number
  readonly at: number
}

/** A limiter that never waits. */
export const unlimited: ByteRateLimiter = { take: () => Effect.void, balance: Effect.succeed(Infinity) }

export const make = (config: ByteRateLimiterConfig): Effect.Effect<ByteRateLimiter> => {
  const rate = config.bytesPerSecond
  if (!Number.isFinite(rate)) return Effect.succeed(unlimited)
  if (!(rate > 0) || !(config.burstBytes > 0)) {
    return Effect.dieMessage(`rate limiter needs a positive rate and burst (got ${rate}/${config.burstBytes})`)
  }
  const burst = config.burstBytes
  return Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const bucket = yield* Ref.make<Bucket>({ tokens: burst, at: start })
    const refill = (b: Bucket, now: number): number => Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000)

    const reserve = (bytes: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(bucket, (b) => {
          const tokens = refill(b, now) - bytes
          const waitMillis = tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / rate)
          return [waitMillis, { tokens, at: now }] as const
        })
      )

    const refund = (bytes: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(bucket, (b) => ({ tokens: Math.min(burst, refill(b, now) + bytes), at: now }))
      )

    const take = (bytes: number): Effect.Effect<void> => {
      const cost = Math.min(Math.max(0, bytes), burst)
      if (cost === 0) return Effect.void
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(reserve(cost), (waitMillis) =>
          waitMillis === 0
            ? Effect.void
            : restore(Effect.sleep(Duration.millis(waitMillis))).pipe(Effect.onInterrupt(() => refund(cost)))
        )
      )
    }

    const balance = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(Ref.get(bucket), (b) => refill(b, now)))
    return { take, balance }
  })
}

/** GS-48/SM-30: the per-peer bucket first, then the global one shared by all syncers. */
export const chain = (first: ByteRateLimiter, second: ByteRateLimiter): ByteRateLimiter => ({
  take: (bytes) => Effect.zipRight(first.take(bytes), second.take(bytes)),
  balance: Effect.zipWith(first.balance, second.balance, Math.min)
})
