/**
 * Issue 18: the router holds the gossip of a query_short_channel_ids reply across socket chunks and submits it at a
 * bound (messages, bytes), before the reply's end or any other message reaches its consumer, and when the stream
 * ends; progress is noted as gossip arrives (GS-51). Outside SCID replies gossip goes on chunk by chunk, as before.
 * A real syncer against a scripted peer, with a pipeline that records each `submit`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, FiberId, TestClock } from "effect"
import type { Scope } from "effect"
import type { GossipMessage, Message } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import type { GossipPipelineService } from "../src/services/GossipPipeline.js"
import type { MadeSyncer, SyncerState } from "../src/services/GossipSyncer.js"
import { makeGossipSyncer, makeShared } from "../src/services/GossipSyncer.js"
import { makeMemory } from "../src/services/GraphStore.js"
import type { Tracker } from "../src/services/internal/gossipSyncer/context.js"
import { HOLD_BOUNDS, Held } from "../src/services/internal/gossipSyncer/router.js"
import { channelAnnouncement, channelUpdate, nodeId } from "./support/gossip.js"
import { makePassThroughPipeline } from "./support/PassThroughPipeline.js"
import type { ScriptedPeer } from "./support/ScriptedPeer.js"
import { makeScriptedPeer } from "./support/ScriptedPeer.js"
import {
  BEST_HEIGHT,
  rangeQuery,
  rangeReply,
  scidEnd,
  settle,
  TEST_NOW,
  testSettings
} from "./support/syncerHarness.js"

/** One `submit`: what it carried, and what the syncer had done when it was made. */
interface Submitted {
  readonly messages: ReadonlyArray<GossipMessage>
  /** The machine's state then (it must not have seen a reply's end before the reply's gossip was submitted). */
  readonly state: SyncerState
  /** Messages the syncer had sent the peer by then. */
  readonly sent: number
}

interface Harness extends MadeSyncer {
  readonly sp: ScriptedPeer
  readonly submits: ReadonlyArray<Submitted>
}

const start: Effect.Effect<Harness, never, Scope.Scope> = Effect.gen(function* () {
  yield* TestClock.setTime(TEST_NOW * 1000)
  const settings = testSettings()
  const store = yield* makeMemory
  const inner = yield* makePassThroughPipeline(store)
  const sp = yield* makeScriptedPeer()
  const submits: Array<Submitted> = []
  // the syncer the pipeline reports on (made below: the pipeline is one of its parts)
  const ref: { made?: MadeSyncer } = {}
  const pipeline: GossipPipelineService = {
    ...inner.service,
    submit: (peer, messages) =>
      Effect.gen(function* () {
        const state = ref.made === undefined ? "chansSynced" : yield* ref.made.syncer.state.get
        submits.push({ messages, state, sent: yield* sp.sentCount })
        yield* inner.service.submit(peer, messages)
      })
  }
  const made = yield* makeGossipSyncer(
    sp.peer,
    { syncType: "PassiveSync", initialState: "chansSynced", markGraphSynced: Effect.void },
    { settings, store, pipeline, shared: yield* makeShared(settings) }
  )
  ref.made = made
  yield* Effect.forkScoped(Effect.scoped(made.run))
  yield* settle
  return { ...made, sp, submits }
})

const [X, Y, Z] = [scid(10, 0, 0), scid(20, 0, 0), scid(30, 0, 0)]
const T = TEST_NOW - 3600

/** Starts a historical sync and answers its range query: the syncer has sent query_short_channel_ids for X, Y, Z. */
const inScidReply = (h: Harness) =>
  Effect.gen(function* () {
    yield* h.syncer.historicalSync
    const done = yield* h.syncer.resetSyncedSignal
    expect((yield* h.sp.nextMessage)._tag).toBe("QueryChannelRange")
    yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z]))
    expect((yield* h.sp.nextMessage)._tag).toBe("QueryShortChannelIds")
    return done
  })

/** Each message in a chunk of its own, as a rate-limited peer's trickle arrives. */
const trickle = (h: Harness, messages: ReadonlyArray<Message>) =>
  Effect.forEach(messages, (m) => Effect.zipRight(h.sp.push(m), settle), { discard: true })

const kinds = (s: Submitted) =>
  s.messages.map((m) => `${m._tag === "ChannelAnnouncement" ? "A" : m._tag === "ChannelUpdate" ? "U" : "N"}`).join("")

describe("router: an SCID reply's gossip is held and submitted whole (issue 18)", () => {
  it.scoped("held across chunks until the reply's end, submitted before the machine sees the end; progress on arrival", () =>
    Effect.gen(function* () {
      const h = yield* start
      const done = yield* inScidReply(h)
      yield* trickle(h, [
        channelAnnouncement(X, nodeId(1), nodeId(2)),
        channelUpdate(X, 0, T),
        channelAnnouncement(Y, nodeId(1), nodeId(3)),
        channelUpdate(Y, 1, T)
      ])
      expect(h.submits).toEqual([])
      // GS-51: noted as it arrived, not when submitted
      const progress = yield* h.syncer.progress
      expect(progress._tag === "Some" && progress.value.channelsReceived).toBe(2)

      yield* h.sp.push(channelAnnouncement(Z, nodeId(2), nodeId(3)), scidEnd())
      yield* done
      expect(h.submits.map(kinds)).toEqual(["AUAUA"])
      expect(h.submits[0].messages.map((m) => m._tag === "ChannelAnnouncement" && m.shortChannelId)).toEqual(
        [X, false, Y, false, Z]
      )
      // the machine was still waiting for the reply when its gossip went to the pipeline
      expect(h.submits[0].state).toBe("waitingQueryChanReply")
      expect(yield* h.syncer.state.get).toBe("chansSynced")
    }))

  it.scoped("a message that is not gossip sends what is held first: the order the peer sent is kept", () =>
    Effect.gen(function* () {
      const h = yield* start
      const done = yield* inScidReply(h)
      const sentBefore = yield* h.sp.sentCount
      yield* trickle(h, [channelAnnouncement(X, nodeId(1), nodeId(2)), channelUpdate(X, 0, T)])
      // the peer asks us something in the middle of its reply: what came before it goes first
      yield* h.sp.push(rangeQuery(0, 10), channelAnnouncement(Y, nodeId(1), nodeId(3)))
      yield* settle
      expect(h.submits.map(kinds)).toEqual(["AU"])
      expect(h.submits[0].sent).toBe(sentBefore) // before the query was handed on (and answered)
      expect((yield* h.sp.nextMessage)._tag).toBe("ReplyChannelRange")
      yield* h.sp.push(channelAnnouncement(Z, nodeId(2), nodeId(3)), scidEnd())
      yield* done
      expect(h.submits.map(kinds)).toEqual(["AU", "AA"])
    }))

  it.scoped(`at ${HOLD_BOUNDS.messages} messages what is held goes on without waiting for the end`, () =>
    Effect.gen(function* () {
      const h = yield* start
      const done = yield* inScidReply(h)
      const updates = Array.from({ length: HOLD_BOUNDS.messages + 10 }, (_, i) => channelUpdate(X, 0, T - i))
      yield* h.sp.push(...updates.slice(0, 1000))
      yield* settle
      yield* h.sp.push(...updates.slice(1000))
      yield* settle
      expect(h.submits.map((s) => s.messages.length)).toEqual([HOLD_BOUNDS.messages])
      expect(h.submits[0].messages).toEqual(updates.slice(0, HOLD_BOUNDS.messages))
      yield* h.sp.push(scidEnd())
      yield* done
      expect(h.submits.map((s) => s.messages.length)).toEqual([HOLD_BOUNDS.messages, 10])
      expect(h.submits[1].messages).toEqual(updates.slice(HOLD_BOUNDS.messages))
    }))

  it.scoped(`at ${HOLD_BOUNDS.bytes} bytes of gossip what is held goes on, whatever the count`, () =>
    Effect.gen(function* () {
      const h = yield* start
      const done = yield* inScidReply(h)
      // 60,000-byte messages (a node announcement can be 65,535): 8 fit in 512 KiB, the 9th would not
      const big = Array.from({ length: 10 }, (_, i) => ({ ...channelUpdate(Y, 0, T - i), raw: new Uint8Array(60_000) }))
      yield* trickle(h, big)
      expect(h.submits.map((s) => s.messages.length)).toEqual([8])
      expect(h.submits[0].messages.reduce((n, m) => n + m.raw.length, 0)).toBeLessThanOrEqual(HOLD_BOUNDS.bytes)
      yield* h.sp.push(scidEnd())
      yield* done
      expect(h.submits.map((s) => s.messages.length)).toEqual([8, 2])
    }))

  it.scoped("the stream's end submits what is held (a peer that hangs up mid-reply)", () =>
    Effect.gen(function* () {
      const h = yield* start
      yield* inScidReply(h)
      yield* trickle(h, [channelAnnouncement(X, nodeId(1), nodeId(2)), channelUpdate(X, 0, T)])
      expect(h.submits).toEqual([])
      yield* h.sp.disconnect("bye")
      yield* settle
      expect(h.submits.map(kinds)).toEqual(["AU"])
    }))

  it.scoped("outside an SCID reply (live gossip) each chunk goes on at once, as before", () =>
    Effect.gen(function* () {
      const h = yield* start
      yield* h.sp.push(channelUpdate(X, 0, T))
      yield* settle
      expect(h.submits.map(kinds)).toEqual(["U"])
      yield* h.sp.push(channelUpdate(X, 1, T + 1))
      yield* settle
      expect(h.submits.map(kinds)).toEqual(["U", "U"])
    }))
})

describe("router: Held's bounds", () => {
  const m = (bytes: number): GossipMessage => ({ ...channelUpdate(X, 0, T), raw: new Uint8Array(bytes) })

  it("bounded in messages and in bytes; an empty buffer takes any message", () => {
    const held = new Held({ messages: 3, bytes: 1000 })
    expect(held.fits(m(5000))).toBe(true) // alone: a message is never refused
    held.add(m(400))
    held.add(m(400))
    expect(held.fits(m(201))).toBe(false) // 1001 bytes
    expect(held.fits(m(200))).toBe(true)
    expect(held.full).toBe(false)
    held.add(m(100))
    expect(held.full).toBe(true) // 3 messages
    expect(held.fits(m(1))).toBe(false)
    expect(held.take().length).toBe(3)
    expect([held.messages.length, held.bytes, held.full]).toEqual([0, 0, false])
    held.add(m(1000))
    expect(held.full).toBe(true) // 1000 bytes
  })

  const tracker = (dump: boolean): Tracker => ({
    scids: new Set(),
    pendingAnnouncements: new Set(),
    lastProgress: 0,
    progressed: false,
    announced: undefined,
    nodesPending: new Set(),
    heard: false,
    lastHeard: 0,
    routing: false,
    maxGap: 0,
    firstProgress: dump ? Deferred.unsafeMake<void>(FiberId.none) : undefined
  })

  it("held for an SCID query's reply; not for a dump, nothing, or a reply whose end went by", () => {
    const held = new Held(HOLD_BOUNDS)
    const query = tracker(false)
    expect(held.replyOf(query)).toBe(query)
    expect(held.replyOf(tracker(true))).toBeUndefined()
    expect(held.replyOf(undefined)).toBeUndefined()
    held.ended = query // its reply_short_channel_ids_end was handed on; the machine has not cleared it yet
    expect(held.replyOf(query)).toBeUndefined()
    const next = tracker(false)
    expect(held.replyOf(next)).toBe(next)
  })
})
