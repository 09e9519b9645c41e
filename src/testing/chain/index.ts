/** A synthetic chain holding the generated graph's funding outputs, and an HTTP server speaking Esplora/bitcoind. */
export * as ChainServer from "./ChainServer.js"
export * as SyntheticChain from "./SyntheticChain.js"
