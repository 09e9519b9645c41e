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
  /**
   * `take` without the effect, when it would not wait: reserves `bytes` at `nowMillis` (the caller's clock) and
   * returns true; returns false and reserves nothing when they would have to wait. For `paceAll`.
   */
  readonly tryTake: (bytes: number, nowMillis: number) => boolean
  /** Whether `take(bytes)` at `nowMillis` would wait (nothing reserved). */
  readonly wouldWait: (bytes: number, nowMillis: number) => boolean
}

/** A limiter that never waits. */
export const unlimited: ByteRateLimiter = {
  take: () => Effect.void,
  balance: Effect.succeed(Infinity),
  tryTake: () => true,
  wouldWait: () => false
}

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

    const costOf = (bytes: number): number => Math.min(Math.max(0, bytes), burst)
    const wouldWait = (bytes: number, now: number): boolean => refill(now) - costOf(bytes) < 0
    const tryTake = (bytes: number, now: number): boolean => {
      const left = refill(now) - costOf(bytes)
      if (left < 0) return false
      tokens = left
      at = now
      return true
    }

    const take = (bytes: number): Effect.Effect<void> => {
      const cost = costOf(bytes)
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
    return { take, balance, tryTake, wouldWait }
  })
}

/** GS-48/SM-30: the per-peer bucket first, then the global one shared by all syncers. */
export const chain = (first: ByteRateLimiter, second: ByteRateLimiter): ByteRateLimiter => ({
  take: (bytes) => Effect.zipRight(first.take(bytes), second.take(bytes)),
  balance: Effect.zipWith(first.balance, second.balance, Math.min),
  // both or neither: a reservation in the first bucket alone would be taken again by the `take` that follows
  tryTake: (bytes, now) =>
    !first.wouldWait(bytes, now) && !second.wouldWait(bytes, now) && first.tryTake(bytes, now) &&
    second.tryTake(bytes, now),
  wouldWait: (bytes, now) => first.wouldWait(bytes, now) || second.wouldWait(bytes, now)
})

/**
 * Sends `items` in order through `limiter` exactly as `take` per item would pace them (GS-40/48: each message
 * reserves its own bytes), in as few effects as possible: the items that need no wait are reserved on the spot
 * and handed to `emit` together; an item that must wait first flushes what is ready, then waits in `take` (which
 * refunds its reservation if interrupted). Serving a query reply costs one effect per group instead of several
 * fiber steps per message.
 */
export const paceAll = <A, E>(
  limiter: ByteRateLimiter,
  items: ReadonlyArray<A>,
  size: (item: A) => number,
  emit: (ready: ReadonlyArray<A>) => Effect.Effect<void, E>
): Effect.Effect<void, E> =>
  Effect.clockWith((clock) => {
    const from = (start: number): Effect.Effect<void, E> =>
      Effect.suspend(() => {
        let i = start
        while (i < items.length && limiter.tryTake(size(items[i]), clock.unsafeCurrentTimeMillis())) i++
        const ready = i === start
          ? Effect.void
          : emit(start === 0 && i === items.length ? items : items.slice(start, i))
        if (i === items.length) return ready
        // item i waits for its reservation (as its own `take` would), then the rest continue from the item after
        return ready.pipe(
          Effect.zipRight(limiter.take(size(items[i]))),
          Effect.zipRight(emitOne(i)),
          Effect.zipRight(from(i + 1))
        )
      })
    const emitOne = (i: number) => emit(items.slice(i, i + 1))
    return from(0)
  })
