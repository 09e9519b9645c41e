/**
 * The parallel initial sync's pool (src/services/internal/gossipSyncer/shares.ts): who takes what, what comes back
 * where, when the owner's SCID phase is over, and how big a lease is.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { noSyncCounts } from "../src/services/GossipSyncer.js"
import type { Tracker, Wanted } from "../src/services/internal/gossipSyncer/context.js"
import * as Shares from "../src/services/internal/gossipSyncer/shares.js"

const wanted = (n: number, from = 1): Array<Wanted> =>
  Array.from({ length: n }, (_, i) => ({ scid: BigInt(from + i), flags: 31n }))
const scids = (lease: Shares.Lease | undefined) => lease?.items.map((w) => Number(w.scid))

const pool = (shared = true) =>
  Effect.gen(function* () {
    const board = Shares.makeBoard()
    const p = yield* Shares.makePool("owner", true, shared, { ...noSyncCounts })
    yield* Shares.open(board, p)
    return { board, p }
  })

const tracker = (lastProgress: number): Tracker => ({
  scids: new Set(),
  pendingAnnouncements: new Set(),
  lastProgress,
  progressed: false,
  announced: undefined,
  nodesPending: new Set(),
  heard: false,
  lastHeard: lastProgress,
  routing: false,
  maxGap: 0
})

describe("share pool (issue 18)", () => {
  it.effect("leases take published SCIDs in order; the pool is drained once complete and every lease settled", () =>
    Effect.gen(function* () {
      const { board, p } = yield* pool()
      yield* Shares.publish(board, p, wanted(5))
      const a = Shares.take(p, "helper-a", 2)
      const b = Shares.take(p, "owner", 2)
      expect([scids(a), scids(b)]).toEqual([[1, 2], [3, 4]])
      expect(Shares.drained(p)).toBe(false)
      const c = Shares.take(p, "helper-b", 10)
      expect(scids(c)).toEqual([5])
      expect(Shares.take(p, "helper-a", 10)).toBeUndefined()
      for (const l of [a!, b!, c!]) Shares.settle(p, l, [])
      expect(Shares.drained(p)).toBe(false) // the owner's range replies are not all in
      yield* Shares.markComplete(p)
      expect(Shares.drained(p)).toBe(true)
    }))

  it.effect("what a helper answered without goes to the owner alone; what the owner answered without is given up", () =>
    Effect.gen(function* () {
      const { board, p } = yield* pool()
      yield* Shares.publish(board, p, wanted(4))
      yield* Shares.markComplete(p)
      const h = Shares.take(p, "helper", 2)!
      const o = Shares.take(p, "owner", 2)!
      Shares.settle(p, h, [h.items[1]!])
      Shares.settle(p, o, [o.items[0]!])
      expect(Shares.hasWorkFor(p, "helper")).toBe(false)
      expect(Shares.take(p, "other-helper", 10)).toBeUndefined()
      expect(Shares.drained(p)).toBe(false)
      const again = Shares.take(p, "owner", 10)
      expect(scids(again)).toEqual([2])
      Shares.settle(p, again!, [])
      expect(Shares.drained(p)).toBe(true)
    }))

  it.effect("a failed helper's lease goes back whole to anyone else, and the helper is barred", () =>
    Effect.gen(function* () {
      const { board, p } = yield* pool()
      yield* Shares.publish(board, p, wanted(3))
      const h = Shares.take(p, "flaky", 3)!
      Shares.giveBack(p, h, true)
      expect(Shares.hasWorkFor(p, "flaky")).toBe(false)
      expect(Shares.take(p, "flaky", 3)).toBeUndefined()
      expect(scids(Shares.take(p, "steady", 3))).toEqual([1, 2, 3])
      // a settled lease's cleanup changes nothing (and bars no one)
      const { board: board2, p: p2 } = yield* pool()
      yield* Shares.publish(board2, p2, wanted(2))
      const l = Shares.take(p2, "good", 2)!
      Shares.settle(p2, l, [])
      Shares.giveBack(p2, l, false)
      expect(Shares.unleasedCount(p2)).toBe(0)
      expect(p2.barred.has("good")).toBe(false)
    }))

  it.effect("a lease without progress for STALL_MILLIS is taken over whole by an idle worker; its late end changes nothing", () =>
    Effect.gen(function* () {
      const { board, p } = yield* pool()
      yield* Shares.publish(board, p, wanted(3))
      yield* Shares.markComplete(p)
      const stuck = Shares.take(p, "silent", 3)!
      stuck.tracker = tracker(1_000)
      let woken = 0
      stuck.wake = () => woken++
      expect(Shares.takeOver(p, "owner", 1_000 + Shares.STALL_MILLIS - 1)).toBeUndefined()
      const taken = Shares.takeOver(p, "owner", 1_000 + Shares.STALL_MILLIS)
      expect(scids(taken)).toEqual([1, 2, 3])
      // its holder is told to stop waiting
      expect({ revoked: stuck.revoked, woken }).toEqual({ revoked: true, woken: 1 })
      // the owner's own stalled lease is left to its reply timeout (GS-51)
      const { board: board2, p: p2 } = yield* pool()
      yield* Shares.publish(board2, p2, wanted(2))
      Shares.take(p2, "owner", 2)!.tracker = tracker(0)
      expect(Shares.takeOver(p2, "helper", 10 * Shares.STALL_MILLIS)).toBeUndefined()
      Shares.settle(p, stuck, stuck.items) // the silent peer ends at last: nothing goes back
      Shares.settle(p, taken!, [])
      expect(Shares.drained(p)).toBe(true)
    }))

  it.effect("closing the pool stops the leases; the board lists shared pools only, and wakes idle syncers", () =>
    Effect.gen(function* () {
      const { board, p } = yield* pool()
      let wakes = 0
      board.wakers.set("idle", () => wakes++)
      yield* Shares.publish(board, p, wanted(2))
      expect(wakes).toBe(1)
      expect(board.pools.has(p)).toBe(true)
      yield* Shares.close(board, p)
      expect(board.pools.has(p)).toBe(false)
      expect(Shares.take(p, "owner", 2)).toBeUndefined()
      const solo = yield* pool(false)
      expect(solo.board.pools.size).toBe(0)
    }))

  it.effect("lease size: the batch size alone; shared, a slow start from 50, twofold growth at most, ~2 s of pace, an equal share of what is left", () =>
    Effect.gen(function* () {
      const { p: solo } = yield* pool(false)
      expect(Shares.leaseRoom(solo, 500, { itemsPerSecond: undefined, lastSize: 0 })).toBe(500)
      const { board, p } = yield* pool()
      yield* Shares.publish(board, p, wanted(10_000))
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: undefined, lastSize: 0 })).toBe(Shares.FIRST_LEASE)
      // a burst made the first lease look fast: twofold at most
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: 10_000, lastSize: 50 })).toBe(100)
      // a steady 70/s: about two seconds' worth
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: 70, lastSize: 200 })).toBe(140)
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: 10_000, lastSize: 400 })).toBe(500)
      // near the end: an equal share of what is left among the workers, not less than MIN_LEASE
      for (const w of ["a", "b", "c"]) Shares.settle(p, Shares.take(p, w, 3_300)!, [])
      expect(Shares.unleasedCount(p)).toBe(100)
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: 10_000, lastSize: 400 })).toBe(25)
      Shares.settle(p, Shares.take(p, "a", 95)!, [])
      expect(Shares.leaseRoom(p, 500, { itemsPerSecond: 10_000, lastSize: 400 })).toBe(Shares.MIN_LEASE)
    }))
})
