/** The memory PeerConnector lives in `src/testing` (the simulation uses it too); re-exported for the tests. */
export { makeMemoryPeerConnector } from "../../src/testing/MemoryPeerConnector.js"
export type { MemoryPeerConnector } from "../../src/testing/MemoryPeerConnector.js"
