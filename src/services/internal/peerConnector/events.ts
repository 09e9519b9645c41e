/**
 * Lossless connect/disconnect events (issue 14). A sliding PubSub dropped the oldest events of a subscriber that
 * fell behind (SyncNode can spend seconds in one `initSyncState`), and a dropped `Connected` left a connection that
 * nobody read. Here each subscriber keeps, per peer, only what it has not seen yet, latest state winning:
 *
 *   - a `Disconnected` for the connection it was last given (if it was given one),
 *   - the newest `Connected` it was not given,
 *   - that connection's `Disconnected`, if it ended too.
 *
 * So nothing is lost that matters, memory is bounded by the number of peers (capped by the connector), not by the
 * number of events, and the contract holds: for one peer a subscriber always sees `Connected` then `Disconnected`
 * alternately.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import type { Peer } from "../../Peer.js"
import type { PeerEvent } from "../../PeerConnector.js"
import { Waiters } from "./budget.js"

interface Pending {
  /** The connection this subscriber was given ended (its reason). */
  before: string | undefined
  /** A connection it has not been given yet. */
  connect: Peer | undefined
  /** ... which has ended as well. */
  after: string | undefined
}

class Subscriber {
  /** Peers whose last event taken here was `Connected`. */
  private readonly given = new Set<string>()
  /** Insertion-ordered: peers are served in the order their first untaken event arrived. */
  private readonly pending = new Map<string, Pending>()
  private ended = false
  readonly changed = new Waiters()

  publish(event: PeerEvent): void {
    if (event._tag === "Connected") {
      const hex = event.peer.nodeIdHex
      const p = this.pending.get(hex) ?? { before: undefined, connect: undefined, after: undefined }
      // an older untaken connection and its end are superseded by this one
      p.connect = event.peer
      p.after = undefined
      this.pending.set(hex, p)
    } else {
      const hex = event.nodeIdHex
      const p = this.pending.get(hex)
      if (p?.connect !== undefined) p.after = event.reason
      else if (this.given.has(hex)) {
        this.pending.set(hex, { before: event.reason, connect: undefined, after: undefined })
      }
    }
    this.changed.wakeAll()
  }

  end(): void {
    this.ended = true
    this.changed.wakeAll()
  }

  /** Untaken peers (tests). */
  get size(): number {
    return this.pending.size
  }

  /** The next peer's untaken events, in order. */
  private takeOne(): Array<PeerEvent> {
    const first = this.pending.entries().next()
    if (first.done === true) return []
    const [hex, p] = first.value
    this.pending.delete(hex)
    const out: Array<PeerEvent> = []
    if (p.before !== undefined) {
      out.push({ _tag: "Disconnected", nodeIdHex: hex, reason: p.before })
      this.given.delete(hex)
    }
    if (p.connect !== undefined) {
      out.push({ _tag: "Connected", peer: p.connect })
      this.given.add(hex)
      if (p.after !== undefined) {
        out.push({ _tag: "Disconnected", nodeIdHex: hex, reason: p.after })
        this.given.delete(hex)
      }
    }
    return out
  }

  readonly pull: Effect.Effect<Chunk.Chunk<PeerEvent>, Option.Option<never>> = Effect.suspend(() => {
    if (this.pending.size > 0) return Effect.succeed(Chunk.unsafeFromArray(this.takeOne()))
    if (this.ended) return Effect.fail(Option.none())
    return Effect.zipRight(this.changed.waitUntil(() => this.pending.size > 0 || this.ended), this.pull)
  })
}

/** The connector's side: publish to every subscriber; `subscribe` for the `events` stream. */
export class PeerEventHub {
  private readonly subscribers = new Set<Subscriber>()
  private closed = false

  publish(event: PeerEvent): void {
    for (const s of this.subscribers) s.publish(event)
  }

  /** Every event published from now on, losslessly (see above); ends when the hub is closed. */
  readonly subscribe = Effect.acquireRelease(
    Effect.sync(() => {
      const s = new Subscriber()
      if (this.closed) s.end()
      else this.subscribers.add(s)
      return s
    }),
    (s) => Effect.sync(() => this.subscribers.delete(s))
  ).pipe(Effect.map((s) => Stream.repeatEffectChunkOption(s.pull)))

  /** Untaken peers per subscriber (tests: bounded by peers, not events). */
  get backlog(): ReadonlyArray<number> {
    return Array.from(this.subscribers, (s) => s.size)
  }

  close(): void {
    this.closed = true
    for (const s of this.subscribers) s.end()
  }
}
