/**
 * What one completed historical sync fetched, here below `GossipSyncer.ts` (which re-exports it) so the fiber
 * modules can count without importing the public module that imports them back (no import cycle).
 */

/**
 * What one completed historical sync fetched (received from the peer for it, before the pipeline's checks): the
 * account of `--exit-when-synced` prints it per peer (issue 13). Cheap counters kept by the syncer.
 */
export interface SyncCounts {
  /** Channels the sync wanted from the peer (unknown, or extended: newer/different), by SCID query or dump. */
  readonly channelsRequested: number
  /** Announcements of wanted channels received. */
  readonly channelsReceived: number
  /** Updates of wanted channels received. */
  readonly updatesReceived: number
  /** Node announcements asked for by name (extended queries: NODE_1/NODE_2 flags, issue 13 item 6). */
  readonly nodesRequested: number
  /** Node announcements received during the sync's SCID phase or dump (requested or sent with their channels). */
  readonly nodesReceived: number
}

export const noSyncCounts: SyncCounts = {
  channelsRequested: 0,
  channelsReceived: 0,
  updatesReceived: 0,
  nodesRequested: 0,
  nodesReceived: 0
}

/**
 * How far the historical sync in progress has come (issue 16: the progress bar, `lnsync_sync_expected_channels`),
 * known once its range replies are in and the wanted list is made (GS-12..21); cheap to read, from the same
 * counters as `SyncCounts`.
 */
export interface SyncProgress {
  /** Distinct channels the peer's range replies announced (what it holds, so what a full sync should hold). */
  readonly channelsAnnounced: number
  /** Channels the sync wants from the peer: the SCIDs it queries (or awaits in a dump). */
  readonly channelsWanted: number
  /** Announcements of wanted channels received so far (at most `channelsWanted`). */
  readonly channelsReceived: number
}
