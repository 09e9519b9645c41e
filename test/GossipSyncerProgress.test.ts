/**
 * Issue 16, the syncer's side: the historical sync's progress (`GossipSyncer.progress`) on the real syncer — known
 * once the range replies are in (channels announced and wanted), counting wanted announcements as they arrive, gone
 * once the sync is over.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Message } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import { channelAnnouncement, channelUpdate, nodeId } from "./support/gossip.js"
import { BEST_HEIGHT, rangeReply, scidEnd, seed, settle, startSyncer, TEST_NOW } from "./support/syncerHarness.js"

describe("issue 16: the historical sync's progress", () => {
  it.scoped("after the range replies: announced and wanted; then the wanted announcements as they arrive", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const [K, X, Y, Z] = [scid(5, 0, 0), scid(10, 0, 0), scid(20, 0, 0), scid(30, 0, 0)]
      const t = TEST_NOW - 3600
      // K is known: the peer announces four channels, the sync wants three
      yield* seed(h.store, { channels: [channelAnnouncement(K, nodeId(7), nodeId(8))], updates: [], nodes: [] })
      yield* h.syncer.historicalSync
      const done = yield* h.syncer.resetSyncedSignal
      const query: Message = yield* h.sp.nextMessage
      expect(query._tag).toBe("QueryChannelRange")
      expect(yield* h.syncer.progress).toEqual(Option.none())

      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [K, X, Y, Z]))
      const scids = yield* h.sp.nextMessage
      expect(scids._tag).toBe("QueryShortChannelIds")
      expect(yield* h.syncer.progress).toEqual(
        Option.some({ channelsAnnounced: 4, channelsWanted: 3, channelsReceived: 0 })
      )

      yield* h.sp.push(
        channelAnnouncement(X, nodeId(1), nodeId(2)),
        channelUpdate(X, 0, t),
        channelAnnouncement(Y, nodeId(1), nodeId(3)),
        channelAnnouncement(scid(999, 0, 0), nodeId(4), nodeId(5)) // not asked for: not counted
      )
      yield* settle
      expect(yield* h.syncer.progress).toEqual(
        Option.some({ channelsAnnounced: 4, channelsWanted: 3, channelsReceived: 2 })
      )

      yield* h.sp.push(channelAnnouncement(Z, nodeId(2), nodeId(3)), scidEnd())
      yield* done // the sync is over: no progress to show
      expect(yield* h.syncer.progress).toEqual(Option.none())
      expect(yield* h.syncer.state.get).toBe("chansSynced")
    }))
})
