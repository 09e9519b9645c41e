/**
 * The reply handler fiber (GS-31..41): answers the peer's `query_channel_range` and `query_short_channel_ids`
 * from the store, in every state (GS-4: our sync and the peer's are independent, each side's machine drives the
 * other's reply handler). Range replies are chunked per block (GS-34..36); SCID replies stream stored gossip as
 * received, filtered by extended `query_flags` (GS-40), and always end with `reply_short_channel_ids_end`. A store
 * failure is answered, not fatal: incomplete information is said on the wire.
 */
import { Chunk, Effect, Queue, Random, Stream } from "effect"
import { sameChain } from "../../../domain/Chain.js"
import { toHex } from "../../../domain/Hex.js"
import type {
  ChainHash,
  QueryChannelRange,
  QueryShortChannelIds,
  ReplyShortChannelIdsEnd
} from "../../../domain/Messages.js"
import * as RawGossip from "../../../domain/RawGossip.js"
import * as ShortChannelId from "../../../domain/ShortChannelId.js"
import type { ChannelState, StoredGossip } from "../../GraphStore.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { SyncerContext } from "./context.js"
import { send, sendRawAll } from "./outbound.js"
import {
  chunkLimit,
  chunkReplies,
  groupByBlock,
  lastBlockOf,
  QUERY_FLAG_ANNOUNCEMENT,
  QUERY_FLAG_NODE_1,
  QUERY_FLAG_NODE_2,
  QUERY_FLAG_UPDATE_1,
  QUERY_FLAG_UPDATE_2,
  QUERY_OPTION_CHECKSUMS,
  QUERY_OPTION_TIMESTAMPS
} from "./rules.js"

const answerRange = (ctx: SyncerContext, q: QueryChannelRange) =>
  Effect.gen(function* () {
    const { chainHash, settings } = ctx
    if (!sameChain(q.chainHash, chainHash)) {
      // GS-31
      return yield* send(ctx, {
        _tag: "ReplyChannelRange",
        chainHash: q.chainHash,
        firstBlocknum: q.firstBlocknum,
        numberOfBlocks: q.numberOfBlocks,
        syncComplete: 0,
        shortIds: { encoding: 0, ids: [] },
        timestamps: undefined,
        checksums: undefined,
        unknownTlvs: []
      })
    }
    const last = lastBlockOf(q.firstBlocknum, q.numberOfBlocks) // GS-33
    const option = q.queryOption ?? 0n
    const withTimestamps = (option & QUERY_OPTION_TIMESTAMPS) !== 0n && !settings.noTimestampQueries // GS-32
    const withChecksums = (option & QUERY_OPTION_CHECKSUMS) !== 0n && !settings.noTimestampQueries
    const found = q.firstBlocknum > ShortChannelId.MAX_BLOCK
      ? ([] as ReadonlyArray<ChannelState>)
      : yield* ctx.store.channelRange(q.firstBlocknum, Math.min(last, ShortChannelId.MAX_BLOCK)).pipe(
        Effect.catchAll((e) => Effect.as(Effect.logWarning(`cannot answer query_channel_range: ${e._tag}`), undefined))
      )
    const limit = chunkLimit(settings.chunkSize, withTimestamps, withChecksums) // GS-34
    const blocks = groupByBlock(found ?? [])
    // GS-35: an oversized block is sampled at random (Effect's Random), then re-sorted
    const samples = new Map<ReadonlyArray<ChannelState>, ReadonlyArray<ChannelState>>()
    for (const block of blocks) {
      if (block.length <= limit) continue
      const picked = Chunk.toReadonlyArray(yield* Random.shuffle(block)).slice(0, limit)
      samples.set(
        block,
        [...picked].sort((a, b) => ShortChannelId.compare(a.shortChannelId, b.shortChannelId))
      )
    }
    const chunks = chunkReplies(q.firstBlocknum, last, blocks, limit, (block) => samples.get(block) ?? block)
    for (const c of chunks) {
      yield* send(ctx, {
        _tag: "ReplyChannelRange",
        chainHash,
        firstBlocknum: c.firstBlock,
        numberOfBlocks: c.lastBlock - c.firstBlock + 1, // GS-36
        // a store failure still covers the range, but says our information is not complete
        syncComplete: c.complete && found !== undefined ? 1 : 0,
        shortIds: { encoding: 0, ids: c.channels.map((ch) => ch.shortChannelId) },
        timestamps: withTimestamps
          ? {
            encoding: 0,
            entries: c.channels.map((ch) => ({ timestamp1: ch.timestamp1, timestamp2: ch.timestamp2 }))
          }
          : undefined,
        checksums: withChecksums
          ? c.channels.map((ch) => ({ checksum1: ch.checksum1, checksum2: ch.checksum2 }))
          : undefined,
        unknownTlvs: []
      })
    }
  })

/** BOLT 7 query_flags: which stored messages to send for each SCID; undefined = everything (GS-40). */
const flagFilter = (ctx: SyncerContext, q: QueryShortChannelIds) =>
  Effect.gen(function* () {
    const qf = q.queryFlags
    const ids = q.shortIds.ids
    if (qf === undefined) return undefined
    if (qf.flags.length !== ids.length) {
      yield* Effect.logWarning(`query_flags has ${qf.flags.length} entries for ${ids.length} scids: ignored`)
      return undefined
    }
    const flags = new Map<ShortChannelId.ShortChannelId, bigint>()
    for (let i = 0; i < ids.length; i++) flags.set(ids[i], qf.flags[i])
    const channels = yield* ctx.store.channels(ids)
    const nodes = new Set<string>()
    for (const [scid, f] of flags) {
      const c = channels.get(scid)
      if (c === undefined) continue
      if ((f & QUERY_FLAG_NODE_1) !== 0n) nodes.add(toHex(c.nodeId1))
      if ((f & QUERY_FLAG_NODE_2) !== 0n) nodes.add(toHex(c.nodeId2))
    }
    // stored gossip is served as received: the few fields query_flags need are read from the raw bytes
    return (g: StoredGossip): boolean => {
      switch (g.kind) {
        case "ChannelAnnouncement": {
          const f = flags.get(RawGossip.announcementScid(g.raw))
          return f === undefined || (f & QUERY_FLAG_ANNOUNCEMENT) !== 0n
        }
        case "ChannelUpdate": {
          const f = flags.get(RawGossip.updateScid(g.raw))
          const bit = RawGossip.updateDirection(g.raw) === 0 ? QUERY_FLAG_UPDATE_1 : QUERY_FLAG_UPDATE_2
          return f === undefined || (f & bit) !== 0n
        }
        case "NodeAnnouncement":
          return nodes.has(toHex(RawGossip.nodeId(g.raw)))
      }
    }
  })

const answerScids = (ctx: SyncerContext, q: QueryShortChannelIds) =>
  Effect.gen(function* () {
    const { chainHash } = ctx
    const end = (chain: ChainHash, fullInformation: number): ReplyShortChannelIdsEnd => ({
      _tag: "ReplyShortChannelIdsEnd",
      chainHash: chain,
      fullInformation
    })
    if (!sameChain(q.chainHash, chainHash)) return yield* send(ctx, end(q.chainHash, 0)) // GS-38
    if (q.shortIds.ids.length === 0) return yield* send(ctx, end(chainHash, 1)) // GS-39 (port decision: BOLT)
    const served = yield* Effect.gen(function* () {
      const accept = yield* flagFilter(ctx, q)
      yield* ctx.store.gossipForChannels(q.shortIds.ids).pipe(
        // GS-40: each one through the limiters (paced per message, handed over a page at a time)
        Stream.runForEachChunk((page) => {
          const raws: Array<Uint8Array> = []
          for (const g of page) if (accept === undefined || accept(g)) raws.push(g.raw)
          return sendRawAll(ctx, raws)
        })
      )
    }).pipe(
      Effect.as(1),
      Effect.catchTag("GraphStoreError", (e) =>
        Effect.as(Effect.logWarning(`cannot answer query_short_channel_ids: ${String(e.cause)}`), 0))
    )
    yield* send(ctx, end(chainHash, served))
  })

/** The fiber: one query at a time, in arrival order; ends only when the peer disconnects. */
export const replyHandler = (ctx: SyncerContext): Effect.Effect<never, PeerDisconnected> =>
  Effect.forever(
    Effect.flatMap(Queue.take(ctx.peerQueries), (q) =>
      q._tag === "QueryChannelRange" ? answerRange(ctx, q) : answerScids(ctx, q))
  )
