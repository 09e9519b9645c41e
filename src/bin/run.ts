/**
 * The job behind `lnsync sync` and `lnsync demo`: keep the given peers connected, let the SyncManager sync, show
 * progress, and (when asked) end with an account of every peer once the sync is over.
 *
 * `--exit-when-synced` always ends (issue 13): when every connected gossip peer has completed or failed its sync, or
 * none is left, or the deadline passes (`Reconciler.account`). It is a success when at least one complete sync
 * reached the store (SM-6/SM-20: the syncer flushes before it marks the graph synced) and the final flush succeeds.
 */
import { Clock, Duration, Effect, Either, Fiber, Option, Ref, Schedule, Stream } from "effect"
import { toHex } from "../domain/Hex.js"
import type { GossipMessage } from "../domain/Messages.js"
import { GossipPipeline } from "../services/GossipPipeline.js"
import type { GraphCounts } from "../services/GraphStore.js"
import { GraphStore } from "../services/GraphStore.js"
import type { PeerAddress } from "../services/PeerConnector.js"
import { NodeIdentity, PeerConnector } from "../services/PeerConnector.js"
import type { PeerOutcome, SyncAccount } from "../services/Reconciler.js"
import { Reconciler } from "../services/Reconciler.js"
import { SyncManager } from "../services/SyncManager.js"
import type { Terminal } from "./terminal.js"
import { makeTerminal } from "./terminal.js"

/** `bar`: a status line on a TTY; `lines`: a progress log line now and then; `none`: nothing. */
export type ProgressMode = "tty" | "lines" | "none"

export interface SyncOptions {
  /** End once the sync is over (`--exit-when-synced`) rather than run until interrupted. */
  readonly untilSynced: boolean
  readonly progress: ProgressMode
  /** With `untilSynced`: end by then whatever the peers are doing (default: the Reconciler's `accountDeadline`). */
  readonly deadline?: Duration.DurationInput | undefined
  /** Where the status line goes (default: stderr). */
  readonly terminal?: Terminal | undefined
}

/** What one peer sent us that the pipeline accepted (from the bounded `accepted` stream, so a lower bound). */
export interface AcceptedCounts {
  readonly channels: number
  readonly updates: number
  readonly nodes: number
}

export interface SyncReport {
  readonly counts: GraphCounts
  /** Peers whose sync completed. */
  readonly peers: number
  readonly seconds: number
  /** One line per peer: what its sync came to. */
  readonly peerLines: ReadonlyArray<string>
  /** At least one complete sync reached the store and everything was flushed: exit 0. */
  readonly ok: boolean
  /** Why it is not ok. */
  readonly reason: string | undefined
  readonly account: SyncAccount | undefined
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

const noneAccepted: AcceptedCounts = { channels: 0, updates: 0, nodes: 0 }

const countMessage = (c: { -readonly [K in keyof AcceptedCounts]: number }, m: GossipMessage): void => {
  if (m._tag === "ChannelAnnouncement") c.channels++
  else if (m._tag === "ChannelUpdate") c.updates++
  else c.nodes++
}

/**
 * Counts accepted gossip per peer, for the account and the message rate: plain counters one fiber writes a chunk at
 * a time (a new map per message cost ~90 MB of garbage over a mainnet sync, issue 18), read by the status line.
 */
const countAccepted = Effect.gen(function* () {
  const pipeline = yield* GossipPipeline
  const byPeer = new Map<string, { -readonly [K in keyof AcceptedCounts]: number }>()
  const accepted = yield* pipeline.accepted
  yield* Effect.forkScoped(
    Stream.runForEachChunk(accepted, (chunk) =>
      Effect.sync(() => {
        for (const a of chunk) {
          let c = byPeer.get(a.fromPeer)
          if (c === undefined) byPeer.set(a.fromPeer, c = { ...noneAccepted })
          countMessage(c, a.message)
        }
      }))
  )
  return Effect.sync((): ReadonlyMap<string, AcceptedCounts> => byPeer)
})

/** What each syncer is doing, short (`02abcdef:Active/syncingChans`), and the historical syncs' progress summed. */
const syncerStates = Effect.gen(function* () {
  const manager = yield* SyncManager
  const syncers = yield* manager.syncers
  let fetched: FetchProgress | undefined
  const states = yield* Effect.forEach(syncers, (s) =>
    Effect.gen(function* () {
      const state = yield* s.syncer.state.get
      const p = yield* s.syncer.progress
      if (Option.isSome(p)) {
        fetched = {
          received: (fetched?.received ?? 0) + p.value.channelsReceived,
          wanted: (fetched?.wanted ?? 0) + p.value.channelsWanted
        }
      }
      return `${s.nodeIdHex.slice(0, 8)}:${s.syncType.replace("Sync", "")}/${state}`
    }))
  return { states, fetched }
})

/** Channels the historical syncs in progress fetched of those they want (summed over the syncing peers). */
export interface FetchProgress {
  readonly received: number
  readonly wanted: number
}

/** `m:ss` (minutes may pass 59); `--:--` when there is no pace to tell by. */
export const etaText = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--"
  const s = Math.ceil(seconds)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

/**
 * The progress text (issue 16): while a historical sync knows what it wants (its range replies are in),
 * `fetched <r>/<w> channels (<pct>%), <n> msg/s, ETA <m:ss>`, the ETA from the channels' own pace; otherwise what
 * is stored and the rate it grows at.
 */
export const progressText = (view: {
  readonly counts: Pick<GraphCounts, "channels" | "updates" | "nodes">
  readonly msgPerSecond: number
  readonly fetched: FetchProgress | undefined
  readonly channelsPerSecond: number
  readonly states: ReadonlyArray<string>
}): string => {
  const rate = `${Math.round(view.msgPerSecond)} msg/s`
  const peers = `${plural(view.states.length, "peer")} ${view.states.join(" ")}`
  const f = view.fetched
  if (f !== undefined) {
    const pct = f.wanted === 0 ? 100 : Math.floor((f.received * 100) / f.wanted)
    const left = f.wanted - f.received
    const eta = etaText(left === 0 ? 0 : view.channelsPerSecond > 0 ? left / view.channelsPerSecond : Number.NaN)
    return `fetched ${f.received}/${f.wanted} channels (${pct}%), ${rate}, ETA ${eta} | ${peers}`
  }
  const c = view.counts
  const total = c.channels + c.updates + c.nodes
  return `${
    plural(total, "message")
  } stored (${c.channels} channels, ${c.updates} updates, ${c.nodes} nodes), ${rate} | ${peers}`
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

/** How often the progress display counts the graph (the spinner turns more often). */
const COUNT_EVERY_MS = 2000

/** Counts, and whether they were just taken (`fresh`) or are the last ones, reused. */
export interface Counted<A> {
  readonly counts: A
  readonly fresh: boolean
}

/** `count`, run again only once `everyMs` have passed since it last ran: a function of the time now. */
export const countingEvery = <A, E>(count: Effect.Effect<A, E>, everyMs: number) =>
  Effect.map(
    Ref.make<{ readonly at: number; readonly value: A } | undefined>(undefined),
    (held) => (now: number): Effect.Effect<Counted<A>, E> =>
      Effect.flatMap(Ref.get(held), (h): Effect.Effect<Counted<A>, E> =>
        h !== undefined && now - h.at < everyMs
          ? Effect.succeed({ counts: h.value, fresh: false })
          : Effect.map(
            Effect.tap(count, (value) => Ref.set(held, { at: now, value })),
            (value) => ({ counts: value, fresh: true })
          ))
  )

/**
 * Progress: what the historical syncs fetched of what their range replies made them want (`GossipSyncer.progress`)
 * while they know it, else what is stored; the rates are smoothed over the last intervals.
 */
const showProgress = (mode: ProgressMode, terminal: Terminal) =>
  Effect.gen(function* () {
    if (mode === "none" || (mode === "tty" && !terminal.tty)) return
    const store = yield* GraphStore
    const every = mode === "tty" ? Duration.millis(250) : Duration.seconds(10)
    const last = yield* Ref.make({ total: -1, totalAt: 0, at: 0, rate: 0, tick: 0, received: -1, channelRate: 0 })
    // the spinner turns every 250 ms; the graph is counted every 2 s at most (issue 18: while an initial sync
    // loads, the SQLite store has no timestamp index to count through, and a count then reads every update)
    const countsAt = yield* countingEvery(store.counts, COUNT_EVERY_MS)
    const draw = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const { counts, fresh: recounted } = yield* countsAt(now)
      const total = counts.channels + counts.updates + counts.nodes
      const prev = yield* Ref.get(last)
      const perSecond = (from: number, to: number, since: number) =>
        from < 0 || now <= since ? 0 : ((to - from) * 1000) / (now - since)
      // smoothed, so the figures do not flicker between batches
      const smooth = (old: number, fresh: number, first: boolean) => first ? fresh : 0.7 * old + 0.3 * fresh
      // the message rate moves only when the graph was counted again
      const rate = recounted ? smooth(prev.rate, perSecond(prev.total, total, prev.totalAt), prev.total < 0) : prev.rate
      const { fetched, states } = yield* syncerStates
      const received = fetched?.received ?? -1
      // a new sync (or a peer gone) resets the channels' pace rather than counting backwards
      const fresh = prev.received < 0 || received < prev.received
      const channelRate = received < 0
        ? 0
        : smooth(prev.channelRate, fresh ? 0 : perSecond(prev.received, received, prev.at), fresh)
      yield* Ref.set(last, {
        total: recounted ? total : prev.total,
        totalAt: recounted ? now : prev.totalAt,
        at: now,
        rate,
        tick: prev.tick + 1,
        received,
        channelRate
      })
      const text = progressText({ counts, msgPerSecond: rate, fetched, channelsPerSecond: channelRate, states })
      if (mode === "tty") terminal.status(`${SPINNER[prev.tick % SPINNER.length]} syncing: ${text}`)
      else yield* Effect.logInfo(`progress: ${text}`)
    })
    const once = draw.pipe(Effect.catchAll((e) => Effect.logDebug("progress: graph counts unavailable", e)))
    // the bar shows at once; a progress log line only once there is something to tell
    yield* mode === "tty" ? Effect.repeat(once, Schedule.spaced(every)) : Effect.schedule(once, Schedule.spaced(every))
  }).pipe(Effect.ensuring(Effect.sync(() => terminal.clearStatus())))

/** Logs `node_id@host:port` so peers (and operators) can dial us. */
export const logIdentity = Effect.gen(function* () {
  const identity = yield* NodeIdentity
  const id = toHex(identity.nodeId)
  yield* Option.match(identity.listenAddress, {
    onNone: () => Effect.logInfo(`lnsync node ${id} (not listening)`),
    onSome: (a) => Effect.logInfo(`lnsync node ${id}@${a.host}:${a.port}`)
  })
})

const addressOf = (peers: ReadonlyArray<PeerAddress>, nodeIdHex: string) => {
  const a = peers.find((p) => toHex(p.nodeId) === nodeIdHex)
  return a === undefined ? nodeIdHex : `${nodeIdHex}@${a.host}:${a.port}`
}

/** One line for one peer's outcome: `peer <id>@<host:port>: completed (initial sync), accepted …` / `…: failed: …`. */
export const peerLine = (
  outcome: PeerOutcome,
  accepted: AcceptedCounts | undefined,
  peers: ReadonlyArray<PeerAddress> = []
) => {
  const who = `peer ${addressOf(peers, outcome.nodeIdHex)}`
  if (outcome._tag !== "Completed") return `${who}: ${outcome._tag.toLowerCase()}: ${outcome.reason}`
  const sync = outcome.sync === "initial" ? "initial sync" : outcome.sync === "reconcile" ? "reconciled" : "synced"
  const c = accepted ?? noneAccepted
  return `${who}: completed (${sync}), accepted ${plural(c.channels, "channel")}, ${plural(c.updates, "update")}, ${
    plural(c.nodes, "node")
  }`
}

const whyNotSynced = (account: SyncAccount, deadline: string): string => {
  switch (account.ended) {
    case "deadline":
      return `no peer completed a sync within the ${deadline} deadline`
    case "noPeers":
      return "every peer disconnected before a sync completed"
    case "settled":
      return account.peers.length === 1 ? "the only peer's sync did not complete" : "no peer's sync completed"
  }
}

/**
 * Dials `peers` (reconnecting with backoff) and syncs. With `untilSynced` it returns the account once the sync is
 * over (see the module doc); the report says whether it succeeded. Otherwise it runs until interrupted.
 */
export const runSync = (peers: ReadonlyArray<PeerAddress>, options: SyncOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const connector = yield* PeerConnector
      const manager = yield* SyncManager
      const reconciler = yield* Reconciler
      const pipeline = yield* GossipPipeline
      const store = yield* GraphStore
      const terminal = options.terminal ?? makeTerminal(process.stderr)
      const started = yield* Clock.currentTimeMillis
      const accepted = yield* countAccepted
      for (const peer of peers) yield* connector.keepConnected(peer)
      const progress = yield* Effect.fork(showProgress(options.progress, terminal))

      const report = (account: SyncAccount | undefined, failure: string | undefined) =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(progress)
          const counts = yield* store.counts
          const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
          const perPeer = yield* accepted
          const outcomes = account?.peers ?? []
          const seen = new Set(outcomes.map((o) => o.nodeIdHex))
          const peerLines = [
            ...outcomes.map((o) => peerLine(o, perPeer.get(o.nodeIdHex), peers)),
            ...peers.filter((p) => !seen.has(toHex(p.nodeId))).map((p) =>
              `peer ${addressOf(peers, toHex(p.nodeId))}: never connected`
            )
          ]
          const deadline = Duration.format(
            options.deadline === undefined ? Duration.minutes(30) : Duration.decode(options.deadline)
          )
          const reason = failure ??
            (account !== undefined && !account.graphSynced ? whyNotSynced(account, deadline) : undefined)
          const result: SyncReport = {
            counts,
            peers: outcomes.filter((o) => o._tag === "Completed").length,
            seconds,
            peerLines,
            ok: reason === undefined,
            reason,
            account
          }
          return result
        })

      if (options.untilSynced) {
        const account = yield* reconciler.account(options.deadline)
        // what the syncers submitted last must be in the store before we say so (SM-6)
        const flushed = yield* Effect.either(pipeline.flush)
        const result = yield* report(account, Either.isLeft(flushed) ? flushed.left.message : undefined)
        if (result.ok) {
          yield* Effect.logInfo(
            `graph synced: ${result.counts.channels} channels, ${result.counts.updates} updates, ${result.counts.nodes} nodes (${
              result.seconds.toFixed(1)
            } s)`
          )
        }
        return result
      }
      yield* Effect.forkScoped(
        Effect.gen(function* () {
          yield* manager.awaitGraphSynced
          yield* reconciler.awaitIdle
          yield* pipeline.flush
          yield* Fiber.interrupt(progress)
          const counts = yield* store.counts
          yield* Effect.logInfo(
            `graph synced: ${counts.channels} channels, ${counts.updates} updates, ${counts.nodes} nodes; following live gossip`
          )
        }).pipe(Effect.catchAll((e) => Effect.logError(`sync: ${e.message}`)))
      )
      return yield* Effect.never
    })
  )

export const summaryLine = (r: SyncReport): string =>
  `synced: ${r.counts.channels} channels, ${r.counts.updates} updates, ${r.counts.nodes} nodes from ${
    plural(r.peers, "peer")
  } in ${r.seconds.toFixed(1)} s`
