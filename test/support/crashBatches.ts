/** The batches the crash-safety writer (graphWriter.ts) commits, rebuilt by the test to check what survived. */
import type { GraphBatch } from "../../src/services/GraphStore.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./gossip.js"

export const CHANNELS_PER_BATCH = 200

/** Batch `i` (from 1): 200 new channels in block 500000+i, both directions' updates, 100 node announcements. */
export const crashBatch = (i: number): GraphBatch => {
  const channels = []
  const updates = []
  const nodes = []
  for (let j = 0; j < CHANNELS_PER_BATCH; j++) {
    const id = scid(500_000 + i, j, 0)
    const a = nodeId(i * 1000 + j)
    channels.push(channelAnnouncement(id, a, nodeId(i * 1000 + j + 1)))
    updates.push(channelUpdate(id, 0, 1_700_000_000 + i), channelUpdate(id, 1, 1_700_000_000 + i))
    if (j % 2 === 0) nodes.push(nodeAnnouncement(a, 1_700_000_000 + i))
  }
  return { channels, updates, nodes }
}

export const crashBatchScids = (i: number) =>
  Array.from({ length: CHANNELS_PER_BATCH }, (_, j) => scid(500_000 + i, j, 0))
