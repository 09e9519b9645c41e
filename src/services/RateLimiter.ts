/**
 * A token bucket in bytes (GS-48, SM-30), driven by Effect's Clock so tests use TestClock.
 *
 * Like Go's `rate.Limiter` that lnd uses, a caller *reserves* its bytes at once — the balance may go negative — and
 * then sleeps for the time the bucket needs to refill to zero. Reservations therefore queue up fairly in call order
 * without a lock held across the wait. If the wait is interrupted (peer gone, syncer stopped) the reservation is
 * refunded, so a cancelled message costs nothing.
 */
import { Clock, Duration, Effect } from "effect"

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

/** A limiter that never waits. */
export const unlimited: ByteRateLimiter = { take: () => Effect.void, balance: Effect.succeed(Infinity) }

export const make = (config: ByteRateLimiterConfig): Effect.Effect<ByteRateLimiter> => {
  const rate = config.bytesPerSecond
  if (!Number.isFinite(rate)) return Effect.succeed(unlimited)
  if (!(rate > 0) || !(config.burstBytes > 0)) {
    return Effect.dieMessage(`rate limiter needs a positive rate and burst (got ${rate}/${config.burstBytes})`)
  }
  const burst = config.burstBytes
  return Effect.map(Clock.currentTimeMillis, (start) => {
    // one bucket per limiter, touched only in synchronous steps: every outbound message passes here, so a send
    // that needs no wait costs one clock read, not a Ref round trip
    let tokens = burst
    let at = start
    const refill = (now: number): number => Math.min(burst, tokens + ((now - at) * rate) / 1000)

    const refund = (bytes: number) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          tokens = Math.min(burst, refill(now) + bytes)
          at = now
        })
      )

    const take = (bytes: number): Effect.Effect<void> => {
      const cost = Math.min(Math.max(0, bytes), burst)
      if (cost === 0) return Effect.void
      return Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) => {
          // reserve at once (the balance may go negative), then wait for the refill to bring it back to zero
          const now = clock.unsafeCurrentTimeMillis()
          tokens = refill(now) - cost
          at = now
          if (tokens >= 0) return Effect.void
          const waitMillis = Math.ceil((-tokens * 1000) / rate)
          return restore(Effect.sleep(Duration.millis(waitMillis))).pipe(Effect.onInterrupt(() => refund(cost)))
        })
      )
    }

    const balance = Effect.clockWith((clock) => Effect.sync(() => refill(clock.unsafeCurrentTimeMillis())))
    return { take, balance }
  })
}

/** GS-48/SM-30: the per-peer bucket first, then the global one shared by all syncers. */
export const chain = (first: ByteRateLimiter, second: ByteRateLimiter): ByteRateLimiter => ({
  take: (bytes) => Effect.zipRight(first.take(bytes), second.take(bytes)),
  balance: Effect.zipWith(first.balance, second.balance, Math.min)
})
