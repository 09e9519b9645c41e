/**
 * Chain hashes as they appear on the wire: the genesis block hash in its internal (little-endian) byte order, i.e.
 * the reverse of the hex block explorers show. BOLT 7 gossip and queries carry one; a node ignores other chains.
 */
import type { ChainHash } from "./Messages.js"
import { equalAt } from "./Bytes.js"
import { fromHex, toHex } from "./Hex.js"

export const BITCOIN_MAINNET: ChainHash = fromHex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")
export const BITCOIN_TESTNET3: ChainHash = fromHex("43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000")
export const BITCOIN_REGTEST: ChainHash = fromHex("06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f")
export const BITCOIN_SIGNET: ChainHash = fromHex("f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000")

export type ChainName = "mainnet" | "testnet3" | "regtest" | "signet"

const KNOWN: ReadonlyArray<readonly [ChainName, ChainHash]> = [
  ["mainnet", BITCOIN_MAINNET],
  ["testnet3", BITCOIN_TESTNET3],
  ["regtest", BITCOIN_REGTEST],
  ["signet", BITCOIN_SIGNET]
]

/** Constant-size comparison of two chain hashes (false when either is not 32 bytes). */
export const sameChain = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== 32 || b.length !== 32) return false
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The well-known chain whose hash is at `buf[at]` (32 bytes, which the caller checked are there), as its shared
 * constant; undefined for any other (the codec's `chain_hash`: one constant instead of a view per message).
 */
export const knownAt = (buf: Uint8Array, at: number): ChainHash | undefined => {
  for (const [, h] of KNOWN) if (equalAt(buf, at, h)) return h
  return undefined
}

/** The name of a well-known chain, undefined for any other hash. */
export const chainName = (hash: Uint8Array): ChainName | undefined => {
  for (const [name, h] of KNOWN) if (sameChain(h, hash)) return name
  return undefined
}

const BY_NAME: Readonly<Record<ChainName, ChainHash>> = {
  mainnet: BITCOIN_MAINNET,
  testnet3: BITCOIN_TESTNET3,
  regtest: BITCOIN_REGTEST,
  signet: BITCOIN_SIGNET
}

export const fromName = (name: ChainName): ChainHash => BY_NAME[name]

/** `mainnet`, or a short hex prefix for an unknown chain (logs, CLI). */
export const describe = (hash: Uint8Array): string => chainName(hash) ?? `chain:${toHex(hash.subarray(0, 4))}…`
