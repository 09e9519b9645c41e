/**
 * GraphHistory: the graph's counts over time, for the dashboard's plot (issue 16). One fiber, in the scope of the
 * layer that made it, samples `GraphQuery.stats` every `interval` into a ring buffer of `capacity` samples, so the
 * memory it holds is bounded however long the server runs (defaults: every 10 s for 2 hours). Nothing is persisted:
 * a restarted server starts a new history.
 *
 * A failed sample (the database busy or gone) is logged and skipped; the next tick tries again.
 */
import { Clock, Context, Duration, Effect, Layer, Ref, Schedule } from "effect"
import { GraphQuery } from "./GraphQuery.js"
import type { GraphQueryService } from "./GraphQuery.js"

/** The graph's counts at one instant. */
export interface HistorySample {
  /** Unix milliseconds. */
  readonly time: number
  readonly channels: number
  readonly updates: number
  /** Node announcements held. */
  readonly nodes: number
}

export interface GraphHistoryConfig {
  /** Time between samples (default 10 seconds). */
  readonly interval?: Duration.DurationInput
  /** Samples kept, oldest dropped first (default 720: two hours at the default interval). */
  readonly capacity?: number
}

export interface GraphHistoryService {
  readonly interval: Duration.Duration
  readonly capacity: number
  /** The samples held, oldest first. */
  readonly samples: Effect.Effect<ReadonlyArray<HistorySample>>
}

export class GraphHistory extends Context.Tag("lnsync/GraphHistory")<GraphHistory, GraphHistoryService>() {}

export const DEFAULT_INTERVAL = Duration.seconds(10)
export const DEFAULT_CAPACITY = 720

/** A fixed-size ring: `next` is where the next sample goes once `items` is full. Immutable, held in a `Ref`. */
export interface Ring<A> {
  readonly items: ReadonlyArray<A>
  readonly next: number
}

export const emptyRing: Ring<never> = { items: [], next: 0 }

/** `ring` with `item` added, dropping the oldest when it already holds `capacity` items. */
export const push = <A>(ring: Ring<A>, item: A, capacity: number): Ring<A> => {
  if (ring.items.length < capacity) return { items: [...ring.items, item], next: 0 }
  const items = ring.items.slice()
  items[ring.next] = item
  return { items, next: (ring.next + 1) % capacity }
}

/** The ring's items, oldest first. */
export const ordered = <A>(ring: Ring<A>): ReadonlyArray<A> => [
  ...ring.items.slice(ring.next),
  ...ring.items.slice(0, ring.next)
]

/**
 * Starts sampling `query` in the current scope (a first sample at once, then one per `interval`); the fiber ends
 * when the scope closes.
 */
export const make = (query: GraphQueryService, config: GraphHistoryConfig = {}) =>
  Effect.gen(function* () {
    const interval = Duration.decode(config.interval ?? DEFAULT_INTERVAL)
    const capacity = Math.max(1, Math.floor(config.capacity ?? DEFAULT_CAPACITY))
    const ring = yield* Ref.make<Ring<HistorySample>>(emptyRing)
    const sampleOnce = Effect.gen(function* () {
      const stats = yield* query.stats
      const time = yield* Clock.currentTimeMillis
      yield* Ref.update(ring, (r) =>
        push(r, { time, channels: stats.channels, updates: stats.updates, nodes: stats.nodes }, capacity))
    }).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning(`graph history: sample skipped, database ${e.operation} failed`)
      )
    )
    yield* Effect.forkScoped(Effect.repeat(sampleOnce, Schedule.spaced(interval)))
    return {
      interval,
      capacity,
      samples: Effect.map(Ref.get(ring), ordered)
    } satisfies GraphHistoryService
  })

/** GraphHistory over the GraphQuery in context, sampling for as long as the layer is in scope. */
export const layer = (config: GraphHistoryConfig = {}): Layer.Layer<GraphHistory, never, GraphQuery> =>
  Layer.scoped(GraphHistory, Effect.flatMap(GraphQuery, (query) => make(query, config)))
