/**
 * The pipeline's bounded in-memory state: premature caches, the in-flight overlay, per-peer misbehaviour scores.
 * Plain mutable structures, owned by the pipeline's single validating fiber (no locking needed).
 */
import { sameBytes } from "../../../domain/Bytes.js"
import type { ChannelUpdate, NodeAnnouncement, PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { BanEvent } from "../../GossipPipeline.js"

export interface Held<M> {
  readonly msg: M
  readonly peer: string
  readonly atMillis: number
}

/**
 * channel_updates for channels not announced yet (lnd's premature-update cache): at most `max` in all and
 * `perChannel` per short channel id (the newest kept), least recently touched channel evicted first, each held for
 * `ttlMillis`. Never an unbounded map.
 */
export class PrematureUpdates {
  private readonly byScid = new Map<ShortChannelId, Array<Held<ChannelUpdate>>>()
  private total = 0
  constructor(
    private readonly max: number,
    private readonly perChannel: number,
    private readonly ttlMillis: number
  ) {}

  get size(): number {
    return this.total
  }

  has(scid: ShortChannelId): boolean {
    return this.byScid.has(scid)
  }

  add(msg: ChannelUpdate, peer: string, now: number): void {
    const scid = msg.shortChannelId
    const list = this.byScid.get(scid) ?? []
    this.byScid.delete(scid) // re-inserted last: most recently touched
    if (list.some((h) => sameBytes(h.msg.raw, msg.raw))) {
      this.byScid.set(scid, list)
      return
    }
    list.push({ msg, peer, atMillis: now })
    this.total += 1
    if (list.length > this.perChannel) {
      let oldest = 0
      for (let i = 1; i < list.length; i++) if (list[i].msg.timestamp < list[oldest].msg.timestamp) oldest = i
      list.splice(oldest, 1)
      this.total -= 1
    }
    this.byScid.set(scid, list)
    while (this.total > this.max) {
      const first = this.byScid.keys().next()
      if (first.done === true) break
      this.total -= this.byScid.get(first.value)?.length ?? 0
      this.byScid.delete(first.value)
    }
  }

  /** Removes and returns what is held for `scid` and not expired. */
  take(scid: ShortChannelId, now: number): ReadonlyArray<Held<ChannelUpdate>> {
    const list = this.byScid.get(scid)
    if (list === undefined) return []
    this.byScid.delete(scid)
    this.total -= list.length
    return list.filter((h) => now - h.atMillis <= this.ttlMillis)
  }
}

/** node_announcements for nodes without a known channel yet: the newest per node, at most `max`, `ttlMillis` each. */
export class PrematureNodes {
  private readonly byNode = new Map<string, Held<NodeAnnouncement>>()
  constructor(
    private readonly max: number,
    private readonly ttlMillis: number
  ) {}

  get size(): number {
    return this.byNode.size
  }

  has(nodeHex: string): boolean {
    return this.byNode.has(nodeHex)
  }

  add(nodeHex: string, msg: NodeAnnouncement, peer: string, now: number): void {
    const old = this.byNode.get(nodeHex)
    if (old !== undefined && old.msg.timestamp >= msg.timestamp) return
    this.byNode.delete(nodeHex)
    this.byNode.set(nodeHex, { msg, peer, atMillis: now })
    while (this.byNode.size > this.max) {
      const first = this.byNode.keys().next()
      if (first.done === true) break
      this.byNode.delete(first.value)
    }
  }

  take(nodeHex: string, now: number): Held<NodeAnnouncement> | undefined {
    const held = this.byNode.get(nodeHex)
    if (held === undefined) return undefined
    this.byNode.delete(nodeHex)
    return now - held.atMillis <= this.ttlMillis ? held : undefined
  }
}

/** Key of one channel direction. */
export const directionKey = (scid: ShortChannelId, direction: number): bigint =>
  // literals, not BigInt(direction): one BigInt made per key instead of three (issue 18: allocation)
  (direction & 1) === 0 ? scid << 1n : (scid << 1n) | 1n

/**
 * Gossip accepted by the validating fiber but not yet written by the writer fiber, tagged with its batch sequence
 * number. The validator reads store ∪ overlay, so a message already accepted in an earlier, unwritten batch is a
 * Duplicate (no second signature check) and an update may follow its announcement across batches.
 */
export class InFlight {
  readonly channels = new Map<
    ShortChannelId,
    { readonly nodeId1: PublicKey; readonly nodeId2: PublicKey; readonly seq: number }
  >()
  readonly updates = new Map<bigint, { readonly timestamp: number; readonly seq: number }>()
  readonly nodes = new Map<string, { readonly timestamp: number; readonly seq: number }>()
  readonly nodesWithChannel = new Map<string, number>()
  /** Keys written per batch, so releasing a batch touches only its own entries. */
  private readonly bySeq = new Map<
    number,
    { channels: Array<ShortChannelId>; updates: Array<bigint>; nodes: Array<string>; withChannel: Array<string> }
  >()

  private keysOf(seq: number) {
    let k = this.bySeq.get(seq)
    if (k === undefined) {
      k = { channels: [], updates: [], nodes: [], withChannel: [] }
      this.bySeq.set(seq, k)
    }
    return k
  }

  addChannel(
    scid: ShortChannelId,
    nodeId1: PublicKey,
    nodeId2: PublicKey,
    hex1: string,
    hex2: string,
    seq: number
  ): void {
    this.channels.set(scid, { nodeId1, nodeId2, seq })
    this.nodesWithChannel.set(hex1, seq)
    this.nodesWithChannel.set(hex2, seq)
    const k = this.keysOf(seq)
    k.channels.push(scid)
    k.withChannel.push(hex1, hex2)
  }

  addUpdate(key: bigint, timestamp: number, seq: number): void {
    this.updates.set(key, { timestamp, seq })
    this.keysOf(seq).updates.push(key)
  }

  addNode(hex: string, timestamp: number, seq: number): void {
    this.nodes.set(hex, { timestamp, seq })
    this.keysOf(seq).nodes.push(hex)
  }

  /** Forgets entries of batches `<= seq` (written, or failed: either way the store now tells the truth). */
  release(seq: number): void {
    for (const [s, k] of this.bySeq) {
      if (s > seq) continue
      this.bySeq.delete(s)
      // an entry re-set by a later batch carries that batch's seq and stays
      for (const id of k.channels) if ((this.channels.get(id)?.seq ?? Infinity) <= seq) this.channels.delete(id)
      for (const id of k.updates) if ((this.updates.get(id)?.seq ?? Infinity) <= seq) this.updates.delete(id)
      for (const id of k.nodes) if ((this.nodes.get(id)?.seq ?? Infinity) <= seq) this.nodes.delete(id)
      for (const id of k.withChannel) {
        if ((this.nodesWithChannel.get(id) ?? Infinity) <= seq) this.nodesWithChannel.delete(id)
      }
    }
  }

  get size(): number {
    return this.channels.size + this.updates.size + this.nodes.size + this.nodesWithChannel.size
  }
}

export interface MisbehaviourConfig {
  readonly threshold: number
  readonly banDurationMillis: number
  readonly scoreResetMillis: number
  readonly maxTrackedPeers: number
}

/**
 * SM-33, lnd's ban manager: +1 per offence, a ban at `threshold` (0 disables) lasting `banDurationMillis`, scores
 * forgotten `scoreResetMillis` after the last offence, at most `maxTrackedPeers` scores and as many bans (the least
 * recently touched forgotten first).
 */
export class Misbehaviour {
  private readonly scores = new Map<string, { score: number; lastMillis: number }>()
  private readonly banned = new Map<string, number>()
  constructor(private readonly config: MisbehaviourConfig) {}

  get trackedPeers(): number {
    return this.scores.size
  }

  get bannedPeers(): number {
    return this.banned.size
  }

  score(peer: string, now: number): number {
    const s = this.scores.get(peer)
    return s === undefined || now - s.lastMillis > this.config.scoreResetMillis ? 0 : s.score
  }

  isBanned(peer: string, now: number): boolean {
    const until = this.banned.get(peer)
    if (until === undefined) return false
    if (until > now) return true
    this.banned.delete(peer)
    return false
  }

  /** Records `count` offences; returns the ban if this crossed the threshold. */
  offend(peer: string, count: number, reason: string, now: number): BanEvent | undefined {
    if (this.config.threshold <= 0 || count <= 0) return undefined
    if (this.isBanned(peer, now)) return undefined
    const score = this.score(peer, now) + count
    this.scores.delete(peer)
    if (score >= this.config.threshold) {
      const untilMillis = now + this.config.banDurationMillis
      this.banned.delete(peer)
      this.banned.set(peer, untilMillis)
      evictOldest(this.banned, this.config.maxTrackedPeers)
      return { nodeIdHex: peer, untilMillis, reason: `${score} invalid gossip messages (last: ${reason})` }
    }
    this.scores.set(peer, { score, lastMillis: now })
    evictOldest(this.scores, this.config.maxTrackedPeers)
    return undefined
  }
}

const evictOldest = <K, V>(map: Map<K, V>, max: number): void => {
  while (map.size > max) {
    const first = map.keys().next()
    if (first.done === true) return
    map.delete(first.value)
  }
}
