/**
 * Byte accounting for everything a peer can make us hold (issue 14): each connection's inbound and outbound queues
 * are bounded in bytes (and in count), and every queued byte is also charged to a budget shared by all connections
 * of one connector. A queue may always hold its first item (one message of any legal size must get through) and up
 * to its `reserveBytes` whatever the shared budget says, so a few greedy peers can never starve the others; beyond
 * the reserve it needs room in the shared budget. A producer that does not fit waits: the reader stops reading the
 * socket (backpressure to TCP), a sender stops sending.
 *
 * Everything here is synchronous and touched only from the connection's fibers, one step at a time.
 */
import { Effect } from "effect"

/** Callbacks of fibers waiting for a change; all are woken at once and each re-checks its own condition. */
export class Waiters {
  private list: Array<() => void> = []

  /**
   * Completes at once if `ready()` holds, else at the next `wakeAll`. The check runs when the wait is registered, so
   * no wake-up can slip in between the caller's check and its wait.
   */
  waitUntil(ready: () => boolean): Effect.Effect<void> {
    return waitAny([this], ready)
  }

  wakeAll(): void {
    if (this.list.length === 0) return
    const woken = this.list
    this.list = []
    for (const cb of woken) cb()
  }

  /** Registered waiters (tests: a waiter left behind would be a leak). */
  get size(): number {
    return this.list.length
  }

  add(cb: () => void): void {
    this.list.push(cb)
  }

  remove(cb: () => void): void {
    const i = this.list.indexOf(cb)
    if (i >= 0) this.list.splice(i, 1)
  }
}

/** Completes at once if `ready()` holds, else at the first `wakeAll` of any of `waiters`. */
export const waitAny = (waiters: ReadonlyArray<Waiters>, ready: () => boolean): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (ready()) {
      resume(Effect.void)
      return
    }
    let done = false
    const cb = () => {
      if (done) return
      done = true
      for (const w of waiters) w.remove(cb)
      resume(Effect.void)
    }
    for (const w of waiters) w.add(cb)
    return Effect.sync(() => {
      done = true
      for (const w of waiters) w.remove(cb)
    })
  })

/** Bytes held across all connections of one connector, against a limit. */
export class ByteBudget {
  private usedBytes = 0
  private peakBytes = 0
  /** Woken whenever bytes are given back. */
  readonly freed = new Waiters()

  constructor(readonly limit: number) {}

  get used(): number {
    return this.usedBytes
  }

  /** Highest `used` seen (tests and benches). */
  get peak(): number {
    return this.peakBytes
  }

  hasRoom(bytes: number): boolean {
    return this.usedBytes + bytes <= this.limit
  }

  charge(bytes: number): void {
    this.usedBytes += bytes
    if (this.usedBytes > this.peakBytes) this.peakBytes = this.usedBytes
  }

  release(bytes: number): void {
    if (bytes <= 0) return
    this.usedBytes -= bytes
    this.freed.wakeAll()
  }
}

/** The shared budgets of one connector: bytes received and not yet consumed, bytes queued to send and not yet written. */
export interface TransportBudget {
  readonly inbound: ByteBudget
  readonly outbound: ByteBudget
}

export const makeTransportBudget = (limits: {
  readonly inboundBytes: number
  readonly outboundBytes: number
}): TransportBudget => ({
  inbound: new ByteBudget(limits.inboundBytes),
  outbound: new ByteBudget(limits.outboundBytes)
})

export interface QueueLimits {
  /** Items held at most. */
  readonly maxItems: number
  /** Bytes held at most (the first item always fits). */
  readonly maxBytes: number
  /** Bytes this queue may hold whatever the shared budget says. */
  readonly reserveBytes: number
}

/**
 * A FIFO bounded in items and bytes, charged to a shared `ByteBudget`. Bytes of taken items may stay charged until
 * the caller `release`s them (the writer keeps its batch charged until the socket took it).
 */
export class ByteQueue<A> {
  private items: Array<A> = []
  private charges: Array<number> = []
  private head = 0
  private heldBytes = 0
  private detached = false
  /** Woken when bytes are released (a producer may fit now). */
  readonly space = new Waiters()
  /** Woken when an item is added or the queue is ended (the consumer may go on). */
  readonly filled = new Waiters()

  constructor(private readonly limits: QueueLimits, private readonly budget: ByteBudget) {}

  /** Items waiting. */
  get length(): number {
    return this.items.length - this.head
  }

  /** Bytes charged: waiting items plus taken ones not yet released. */
  get bytes(): number {
    return this.heldBytes
  }

  /** Whether an item of `charge` bytes may be pushed now. */
  fits(charge: number): boolean {
    if (this.length === 0 && this.heldBytes === 0) return true
    if (this.length >= this.limits.maxItems || this.heldBytes + charge > this.limits.maxBytes) return false
    return this.heldBytes + charge <= this.limits.reserveBytes || this.detached || this.budget.hasRoom(charge)
  }

  push(item: A, charge: number): void {
    this.items.push(item)
    this.charges.push(charge)
    this.heldBytes += charge
    if (!this.detached) this.budget.charge(charge)
    this.filled.wakeAll()
  }

  /**
   * Takes waiting items in order, at least one and then while their charges stay within `maxBytes`; returns them
   * with their total charge. `release` says whether those bytes are given back now.
   */
  take(maxBytes: number, release: boolean): { readonly items: Array<A>; readonly bytes: number } {
    const out: Array<A> = []
    let bytes = 0
    while (this.head < this.items.length) {
      const c = this.charges[this.head]
      if (out.length > 0 && bytes + c > maxBytes) break
      out.push(this.items[this.head])
      bytes += c
      this.head++
    }
    if (this.head === this.items.length) {
      this.items = []
      this.charges = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.charges = this.charges.slice(this.head)
      this.head = 0
    }
    if (release) this.release(bytes)
    return { items: out, bytes }
  }

  /** Gives back bytes of items taken earlier with `release: false`. */
  release(bytes: number): void {
    if (bytes <= 0) return
    this.heldBytes -= bytes
    if (!this.detached) this.budget.release(bytes)
    this.space.wakeAll()
  }

  /**
   * The connection is gone: its bytes go back to the shared budget at once (memory is given back when peers leave);
   * the items stay for the consumer's last drain, no longer charged to anyone else.
   */
  detach(): void {
    if (this.detached) return
    this.detached = true
    this.budget.release(this.heldBytes)
    this.space.wakeAll()
    this.filled.wakeAll()
  }

  /** Drops every waiting item (their bytes released). */
  clear(): void {
    const { bytes } = this.take(Infinity, false)
    this.release(bytes)
  }
}
