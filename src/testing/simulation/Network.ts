/**
 * The deterministic whole-network simulation (issue 13): ONE real lnsync node — `Node.layer` as `lnsync sync` builds
 * it: SyncNode, SyncManager, the real GossipSyncers, the real GossipPipeline with real signature checks (in-thread),
 * the Reconciler, here over the memory GraphStore — with N scripted peers (`SimPeer.ts`) attached over in-memory peer
 * pairs that go through the real codec. Everything runs on Effect's clock: under TestClock a run is a function of
 * the scenario and its seed, and minutes of protocol time cost milliseconds.
 *
 * `run` drives the clock one step at a time up to the scenario's bound and reports when the local graph reached the
 * union of the well-behaved peers' graphs, when the graph was first synced (SM-6), when `--exit-when-synced` would
 * have returned and with what account (`Reconciler.account` with the scenario's deadline, then a pipeline flush,
 * as `src/bin/run.ts` does), what state every syncer ended in, and how many fibers were still alive once the
 * node's scope closed (SM-10: none may be).
 */
import type { Scope } from "effect"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Option,
  Random,
  Ref,
  Scope as ScopeModule,
  Stream,
  Supervisor,
  TestClock
} from "effect"
import { BITCOIN_MAINNET } from "../../domain/Chain.js"
import { toHex } from "../../domain/Hex.js"
import type { ChannelUpdate, NodeAnnouncement } from "../../domain/Messages.js"
import { isGossipMessage } from "../../domain/Messages.js"
import * as Features from "../../domain/Features.js"
import { GossipPipeline } from "../../services/GossipPipeline.js"
import type { SyncerState, SyncType } from "../../services/GossipSyncer.js"
import type { GraphBatch, GraphCounts, GraphStoreService } from "../../services/GraphStore.js"
import { GraphStore, layerMemory as GraphStoreMemory } from "../../services/GraphStore.js"
import type { Peer } from "../../services/Peer.js"
import type { PeerConnectorService } from "../../services/PeerConnector.js"
import { NodeIdentity, PeerConnector } from "../../services/PeerConnector.js"
import * as Reconciler from "../../services/Reconciler.js"
import type { SyncAccount } from "../../services/Reconciler.js"
import { SyncManager } from "../../services/SyncManager.js"
import type { GeneratedGraph } from "../GraphGenerator.js"
import * as Node from "../../layers/Node.js"
import { deriveKey, generateGraph, GENERATED_TIP } from "../GraphGenerator.js"
import { makePeerPair } from "../MemoryPeer.js"
import { makeMemoryPeerConnector } from "../MemoryPeerConnector.js"
import { splitGraph } from "../SimulatedNetwork.js"
import { publicKeyOf } from "../../domain/Signatures.js"
import type { Behaviour } from "./Behaviour.js"
import { isWellBehaved, label, servesAnnouncementOnly } from "./Behaviour.js"
import * as SimPeer from "./SimPeer.js"

/** 2023-11-14 (unix seconds): the graph's "now" and the clock's start. */
export const SIM_NOW = 1_700_000_000

// ---------------------------------------------------------------------------------------------------------------
// The graph

/** The whole signed graph of a simulation; every tenth channel has no channel_update (announcement-only). */
export interface SimGraph {
  readonly whole: GraphBatch
  /** Channel i is held by peers i mod P and i+1 mod P (`SimulatedNetwork.splitGraph`). */
  readonly split: (peers: number) => ReadonlyArray<GraphBatch>
}

/**
 * A validly signed graph from `GraphGenerator` (seconds to sign; make it once per test file). Announcement-only
 * channels are there so a Core-Lightning-like peer, which does not list them, differs from an honest one.
 */
export const makeGraph = (options: { readonly seed: number; readonly channels: number }): SimGraph => {
  const generated = generateGraph({
    seed: options.seed,
    channels: options.channels,
    chainHash: BITCOIN_MAINNET,
    now: SIM_NOW
  })
  const announcementOnly = new Set(
    generated.channelAnnouncements.filter((_, i) => i % 10 === 9).map((c) => c.shortChannelId)
  )
  const graph: GeneratedGraph = {
    ...generated,
    channelUpdates: generated.channelUpdates.filter((u) => !announcementOnly.has(u.shortChannelId))
  }
  return {
    whole: { channels: graph.channelAnnouncements, updates: graph.channelUpdates, nodes: graph.nodeAnnouncements },
    split: (peers) => splitGraph(graph, peers)
  }
}

/** What a peer with this behaviour lets a querying node learn of `part`. */
export const servedPart = (part: GraphBatch, behaviour: Behaviour): GraphBatch =>
  servesAnnouncementOnly(behaviour) ? withEndpoints(part, part.channels) : withUpdates(part)

const withEndpoints = (part: GraphBatch, channels: GraphBatch["channels"]): GraphBatch => {
  const endpoints = new Set(channels.flatMap((c) => [toHex(c.nodeId1), toHex(c.nodeId2)]))
  return { channels, updates: part.updates, nodes: part.nodes.filter((n) => endpoints.has(toHex(n.nodeId))) }
}

/** `part` without its announcement-only channels (and the node announcements only they carried). */
const withUpdates = (part: GraphBatch): GraphBatch => {
  const withUpdate = new Set(part.updates.map((u) => u.shortChannelId))
  return withEndpoints(part, part.channels.filter((c) => withUpdate.has(c.shortChannelId)))
}

/**
 * What the local graph must converge to from a well-behaved peer: everything it serves, announcement-only channels
 * included. BOLT 7's two-week rule still prunes those (no update, timestamp 0: the ChainWatcher, a minute after
 * start and then hourly), but as not-yet-updated rather than stale, so they are not zombies: a range reply that
 * lists one again fetches it again (issue 13/15; before, one taken from a peer that stalled before the first prune
 * was zombied and never fetched from the honest peers). Convergence is the moment everything has arrived.
 */
export const mustConverge = (part: GraphBatch, behaviour: Behaviour): GraphBatch => servedPart(part, behaviour)

// ---------------------------------------------------------------------------------------------------------------
// Scenarios and outcomes

export interface Scenario {
  readonly name: string
  /** One per peer, in connection order (the first one gets the initial historical sync, SM-16). */
  readonly peers: ReadonlyArray<Behaviour>
  /** Seeds the node's Random (SM-27 choices, GS-35 sampling). */
  readonly seed: string
  /** How much virtual time the sync may take (default 10 minutes). */
  readonly bound?: Duration.DurationInput | undefined
  /** `--sync-deadline`: the deadline given to `Reconciler.account` (default: the Reconciler's, 30 minutes). */
  readonly deadline?: Duration.DurationInput | undefined
  /** Every peer serves the whole graph (issue 18's parallel initial sync), not the default split of it. */
  readonly whole?: boolean | undefined
}

export const scenario = (
  name: string,
  peers: ReadonlyArray<Behaviour>,
  extra: Partial<Omit<Scenario, "name" | "peers">> = {}
): Scenario => ({
  name,
  peers,
  seed: extra.seed ?? name,
  bound: extra.bound,
  deadline: extra.deadline,
  whole: extra.whole
})

export interface SyncerReport {
  readonly peer: string
  readonly syncType: SyncType
  readonly state: SyncerState
}

export interface Outcome {
  readonly scenario: string
  /** Virtual ms from the start until the local graph held the well-behaved peers' union. */
  readonly convergedAfterMillis: number | undefined
  /** Virtual ms until the first complete channel-range sync (SM-6). */
  readonly graphSyncedAfterMillis: number | undefined
  /** Virtual ms until `--exit-when-synced` would have returned (`Reconciler.account`, then the pipeline flushed). */
  readonly exitAfterMillis: number | undefined
  /** The account `--exit-when-synced` would have printed (peers as labels), once it returned. */
  readonly account: SyncAccount | undefined
  /** Virtual ms when the run stopped (converged and exited, or the bound). */
  readonly ranMillis: number
  /** The manager's syncers when the run stopped (peers by label, e.g. `p0:silent`). */
  readonly syncers: ReadonlyArray<SyncerReport>
  readonly counts: GraphCounts
  /** Messages of the well-behaved union still missing from the local graph. */
  readonly missing: number
  /** Of those, how many of each kind (`channel_announcement`, `channel_update`, `node_announcement`). */
  readonly missingByKind: Readonly<Record<string, number>>
  /** Messages in the local graph that are not in the generated graph (forged or corrupted): must be 0. */
  readonly foreign: number
  /** Peers the node banned (labels). */
  readonly banned: ReadonlyArray<string>
  /** Per peer: what the node sent it, when (the reproducibility checks compare these). */
  readonly traces: ReadonlyArray<
    { readonly peer: string; readonly received: ReadonlyArray<string>; readonly sent: number }
  >
  /** Fibers still alive after the node's scope closed (SM-10: 0). */
  readonly liveFibersAfterClose: number
}

export interface RunOptions {
  /** Virtual time per clock step (default 5 s): how often the run looks whether it can stop. */
  readonly step?: Duration.DurationInput
  /** SCIDs per range reply of every simulated peer (default 100: a few replies for a few hundred channels). */
  readonly rangeChunk?: number
  /** The node's log level (default Error: the misbehaving peers make it warn a lot). */
  readonly logLevel?: LogLevel.LogLevel
}

// ---------------------------------------------------------------------------------------------------------------
// The connector: peers handed to it, never dialed

/**
 * The memory connector with the simulation's one addition: a peer whose remote end hangs up is detached (a
 * Disconnected, as a closed socket gives). A banned peer stays away (the simulated peers do not redial).
 */
const makeConnector = Effect.map(makeMemoryPeerConnector, (c) => ({
  service: c.service,
  bans: c.bans,
  attach: (peer: Peer): Effect.Effect<void, never, Scope.Scope> =>
    Effect.zipRight(
      c.attach(peer),
      Effect.asVoid(Effect.forkScoped(Effect.flatMap(peer.closed, (e) => c.detach(peer.nodeIdHex, e.reason))))
    )
}))

// ---------------------------------------------------------------------------------------------------------------
// The node

/** The local node as `lnsync sync` builds it (`Node.layer`, Reconciler included), with the simulation's connector. */
const buildNode = (connector: PeerConnectorService) =>
  Effect.gen(function* () {
    const identity = Layer.succeed(NodeIdentity, { nodeId: publicKeyOf(LOCAL_KEY), listenAddress: Option.none() })
    const node = Node.layer({
      chain: BITCOIN_MAINNET,
      nodePrivateKey: LOCAL_KEY,
      store: GraphStoreMemory,
      connector: Layer.merge(Layer.succeed(PeerConnector, connector), identity),
      verifier: "in-thread",
      bestHeight: Effect.succeed(GENERATED_TIP)
    })
    const context = yield* Layer.build(node).pipe(Effect.orDie)
    return {
      manager: Context.get(context, SyncManager),
      store: Context.get(context, GraphStore),
      pipeline: Context.get(context, GossipPipeline),
      reconciler: Context.get(context, Reconciler.Reconciler)
    }
  })

/** A completed deferred's value, or undefined while it is pending. */
const doneValue = <A>(d: Deferred.Deferred<A>): Effect.Effect<A | undefined> =>
  Effect.flatMap(
    Deferred.poll(d),
    Option.match({ onNone: (): Effect.Effect<A | undefined> => Effect.succeed(undefined), onSome: (value) => value })
  )

/** Every stored message of the local graph, as hex. */
const storedRaw = (store: GraphStoreService) =>
  Effect.orDie(
    Effect.gen(function* () {
      const channels = yield* store.channelRange(0, 0xffffff)
      const raw = yield* Stream.runCollect(store.gossipForChannels(channels.map((c) => c.shortChannelId)))
      return new Set([...raw].map((g) => toHex(g.raw)))
    })
  )

const rawOf = (batch: GraphBatch): ReadonlyArray<string> => [
  ...batch.channels.map((c) => toHex(c.raw)),
  ...batch.updates.map((u: ChannelUpdate) => toHex(u.raw)),
  ...batch.nodes.map((n: NodeAnnouncement) => toHex(n.raw))
]

/** BOLT 7 message types as the first two bytes of a raw message in hex. */
const KIND_BY_TYPE: Readonly<Record<string, string>> = {
  "0100": "channel_announcement",
  "0101": "node_announcement",
  "0102": "channel_update"
}

const LOCAL_KEY = deriveKey("lnsync/sim/local")
const peerKey = (i: number) => publicKeyOf(deriveKey(`lnsync/sim/peer/${i}`))
/** Plain gossip queries: the simulated peers do not offer gossip_queries_ex (see Behaviour.ts). */
const PLAIN_QUERIES = Features.fromBits([Features.GOSSIP_QUERIES.odd])

/**
 * Runs one scenario under TestClock (the caller's test provides it) and reports. The node and the peers live in a
 * scope of their own, closed before returning, under a fiber supervisor that counts what outlives it.
 */
export const run = (graph: SimGraph, s: Scenario, options: RunOptions = {}): Effect.Effect<Outcome> =>
  Effect.gen(function* () {
    const start = SIM_NOW * 1000
    yield* TestClock.setTime(start)
    const bound = Duration.toMillis(s.bound ?? Duration.minutes(10))
    const step = Duration.decode(options.step ?? Duration.seconds(5))
    const parts = s.whole === true ? s.peers.map(() => graph.whole) : graph.split(s.peers.length)
    const labels = s.peers.map((b, i) => `p${i}:${label(b)}`)
    const union = new Set(
      s.peers.flatMap((b, i) => (isWellBehaved(b) ? rawOf(mustConverge(parts[i]!, b)) : []))
    )
    const everything = new Set(rawOf(graph.whole))

    const missing = (store: GraphStoreService) =>
      Effect.map(storedRaw(store), (local) => {
        let missing = 0
        const byKind: Record<string, number> = {}
        for (const m of union) {
          if (local.has(m)) continue
          missing++
          const kind = KIND_BY_TYPE[m.slice(0, 4)] ?? m.slice(0, 4)
          byKind[kind] = (byKind[kind] ?? 0) + 1
        }
        let foreign = 0
        for (const m of local) if (!everything.has(m)) foreign++
        return { missing, foreign, byKind }
      })

    const supervisor = yield* Supervisor.track
    const scope = yield* ScopeModule.make()
    const inScope = <A>(effect: Effect.Effect<A, never, Scope.Scope>): Effect.Effect<A> =>
      effect.pipe(
        ScopeModule.extend(scope),
        Effect.supervised(supervisor),
        Effect.withRandom(Random.make(s.seed)),
        Logger.withMinimumLogLevel(options.logLevel ?? LogLevel.Error)
      )

    const sim = yield* inScope(
      Effect.gen(function* () {
        const connector = yield* makeConnector
        const node = yield* buildNode(connector.service)
        const since = (ms: number) => ms - start
        const graphSyncedAt = yield* Deferred.make<number>()
        const exitAt = yield* Deferred.make<number>()
        const accountAtExit = yield* Deferred.make<SyncAccount>()
        yield* Effect.forkScoped(
          Effect.flatMap(
            node.manager.awaitGraphSynced,
            () =>
              Effect.flatMap(
                Effect.clockWith((c) => c.currentTimeMillis),
                (t) => Deferred.succeed(graphSyncedAt, since(t))
              )
          )
        )
        // `lnsync sync --exit-when-synced` (src/bin/run.ts): the account, then a flush
        yield* Effect.forkScoped(
          Effect.gen(function* () {
            const account = yield* node.reconciler.account(s.deadline)
            yield* Effect.ignore(node.pipeline.flush)
            yield* Deferred.succeed(accountAtExit, account)
            yield* Deferred.succeed(exitAt, since(yield* Effect.clockWith((c) => c.currentTimeMillis)))
          })
        )
        // convergence is checked after every batch the pipeline accepts, so its time is exact
        const convergedAt = yield* Deferred.make<number>()
        const converged = Effect.gen(function* () {
          const counts = yield* Effect.orDie(node.store.counts)
          if (counts.channels + counts.updates + counts.nodes < union.size) return false
          return (yield* missing(node.store)).missing === 0
        })
        const accepted = yield* node.pipeline.accepted
        yield* Effect.forkScoped(
          Stream.concat(Stream.make(undefined), Stream.map(Stream.chunks(accepted), () => undefined)).pipe(
            Stream.mapEffect(() => converged),
            Stream.takeUntil((done) => done),
            Stream.runLast,
            Effect.flatMap((last) =>
              Option.getOrElse(last, () => false)
                ? Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (t) =>
                  Deferred.succeed(convergedAt, since(t)))
                : Effect.void
            )
          )
        )
        const traces: Array<{ readonly peer: string; readonly trace: SimPeer.SimPeerTrace }> = []
        for (const [i, behaviour] of s.peers.entries()) {
          const [local, remote] = yield* makePeerPair({
            local: { nodeId: publicKeyOf(LOCAL_KEY) },
            remote: { nodeId: peerKey(i), features: PLAIN_QUERIES }
          })
          const trace = yield* SimPeer.start(remote, parts[i]!, behaviour, {
            chainHash: BITCOIN_MAINNET,
            rangeChunk: options.rangeChunk ?? 100,
            startMillis: start
          })
          traces.push({ peer: labels[i]!, trace })
          yield* connector.attach(local)
        }
        return { node, connector, graphSyncedAt, exitAt, accountAtExit, convergedAt, traces }
      })
    )

    const labelOf = (nodeIdHex: string) =>
      labels[s.peers.findIndex((_, i) => toHex(peerKey(i)) === nodeIdHex)] ?? nodeIdHex

    let elapsed = 0
    while (elapsed < bound) {
      yield* TestClock.adjust(step)
      elapsed += Duration.toMillis(step)
      if ((yield* Deferred.isDone(sim.convergedAt)) && (yield* Deferred.isDone(sim.exitAt))) break
    }

    const snapshot = yield* sim.node.manager.syncers
    const syncers = yield* Effect.forEach(
      snapshot,
      (x) =>
        Effect.map(
          x.syncer.state.get,
          (state): SyncerReport => ({ peer: labelOf(x.nodeIdHex), syncType: x.syncType, state })
        )
    )
    const final = yield* missing(sim.node.store)
    const counts = yield* Effect.orDie(sim.node.store.counts)
    const traces = yield* Effect.forEach(
      sim.traces,
      (t) =>
        Effect.map(Effect.all([Ref.get(t.trace.received), Ref.get(t.trace.sent)]), ([received, sent]) => ({
          peer: t.peer,
          received,
          sent
        }))
    )
    const banned = (yield* Ref.get(sim.connector.bans)).map((b) => labelOf(b.nodeIdHex))
    const convergedAfterMillis = yield* doneValue(sim.convergedAt)
    const graphSynced = yield* doneValue(sim.graphSyncedAt)
    const exited = yield* doneValue(sim.exitAt)
    const accountById = yield* doneValue(sim.accountAtExit)
    const account = accountById === undefined
      ? undefined
      : { ...accountById, peers: accountById.peers.map((p) => ({ ...p, nodeIdHex: labelOf(p.nodeIdHex) })) }

    yield* ScopeModule.close(scope, Exit.void)
    yield* TestClock.adjust(0)
    const live = yield* supervisor.value

    return {
      scenario: s.name,
      convergedAfterMillis,
      graphSyncedAfterMillis: graphSynced,
      exitAfterMillis: exited,
      account,
      ranMillis: elapsed,
      syncers,
      counts,
      missing: final.missing,
      missingByKind: final.byKind,
      foreign: final.foreign,
      banned,
      traces,
      liveFibersAfterClose: live.length
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// The floor

/**
 * The floor a sync from one peer is measured against (issue 13 item 5: "a client that only receives the dump,
 * verifying nothing"): a client that sends `gossip_timestamp_filter(0, 2^32-1)` at once and only checks off what
 * arrives, over the same in-memory pair, codec and scripted peer as `run`. Virtual ms until every message of the
 * peer's dump of the whole graph has arrived, or undefined if that takes longer than `bound`.
 */
export const receiveDump = (
  graph: SimGraph,
  behaviour: Behaviour,
  options: { readonly bound?: Duration.DurationInput; readonly rangeChunk?: number } = {}
): Effect.Effect<number | undefined> =>
  Effect.scoped(
    Effect.gen(function* () {
      const start = SIM_NOW * 1000
      yield* TestClock.setTime(start)
      const part = graph.split(1)[0]!
      // LDK dumps everything; a timestamp filter's backlog (lnd, CLN) leaves out announcement-only channels, whose
      // timestamps are their updates'
      const wanted = new Set(rawOf(behaviour._tag === "LdkLike" ? servedPart(part, behaviour) : withUpdates(part)))
      const [local, remote] = yield* makePeerPair({
        local: { nodeId: publicKeyOf(LOCAL_KEY) },
        remote: { nodeId: peerKey(0), features: PLAIN_QUERIES }
      })
      yield* SimPeer.start(remote, part, behaviour, {
        chainHash: BITCOIN_MAINNET,
        rangeChunk: options.rangeChunk ?? 100,
        startMillis: start
      })
      const done = yield* Deferred.make<number>()
      yield* Effect.forkScoped(
        local.messages.pipe(
          Stream.runForEach((m) =>
            Effect.gen(function* () {
              if (!isGossipMessage(m) || !wanted.delete(toHex(m.raw)) || wanted.size > 0) return
              yield* Deferred.succeed(done, (yield* Effect.clockWith((c) => c.currentTimeMillis)) - start)
            })
          ),
          Effect.ignore
        )
      )
      yield* Effect.orDie(
        local.send({
          _tag: "GossipTimestampFilter",
          chainHash: BITCOIN_MAINNET,
          firstTimestamp: 0,
          timestampRange: 0xffffffff
        })
      )
      const bound = Duration.toMillis(options.bound ?? Duration.minutes(10))
      const step = Duration.millis(5)
      for (let elapsed = 0; elapsed < bound && !(yield* Deferred.isDone(done)); elapsed += 5) {
        yield* TestClock.adjust(step)
      }
      return yield* doneValue(done)
    })
  )
