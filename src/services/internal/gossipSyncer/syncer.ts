/**
 * Transitional: the syncer moved to `../../GossipSyncer.ts` (config, factory) and the fiber modules beside this file
 * (start at `make.ts`). This re-export keeps old import paths compiling until their callers move; then it goes.
 */
export * from "../../GossipSyncer.js"
