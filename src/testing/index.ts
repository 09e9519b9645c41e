/**
 * `lnsync/testing`: helpers for tests, the demo and the benches — a deterministic signed graph generator (over the
 * mainnet topology kept in `data/`, or a synthetic one), in-memory peers, simulated serving peers on loopback, and
 * a raw graph file format. Not needed to run a node.
 */
export * as GraphFile from "./GraphFile.js"
export * as GraphGenerator from "./GraphGenerator.js"
export * as MainnetTopology from "./MainnetTopology.js"
export * as MemoryPeer from "./MemoryPeer.js"
export * as SimulatedNetwork from "./SimulatedNetwork.js"
export * as Topology from "./Topology.js"
