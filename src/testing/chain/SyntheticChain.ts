/**
 * A synthetic bitcoin chain for tests and benches: blocks whose transactions hold real funding outputs (P2WSH of
 * the BOLT 3 2-of-2 of each announcement's bitcoin keys) exactly where the announcements' short channel ids say —
 * block height, transaction index, output index — with filler transactions before them. Every height up to the tip
 * has a block (a hash derived from the height; block 0 is the real genesis block of the fixture's chain, regtest
 * unless told, since the startup probe checks it); only blocks with channels or spends hold transactions.
 *
 * Mutable on purpose (a test advances the tip, spends an output, breaks a script); one instance per test.
 */
import { createHash } from "node:crypto"
import { BITCOIN_REGTEST } from "../../domain/Chain.js"
import { toHex } from "../../domain/Hex.js"
import type { ChannelAnnouncement } from "../../domain/Messages.js"
import * as Scid from "../../domain/ShortChannelId.js"
import { expectedFundingScriptPubKey } from "../../services/ChainSource.js"

export interface SynthOutput {
  scriptPubKey: Uint8Array
  readonly valueSat: bigint
}

export interface SynthTx {
  readonly txid: string
  readonly vin: ReadonlyArray<{ readonly txid: string; readonly vout: number }>
  readonly vout: Array<SynthOutput>
}

const sha = (text: string): string => createHash("sha256").update(text).digest("hex")

/** A deterministic capacity per channel: 20k..16.8M sat, from the scid. */
export const capacityOf = (scid: Scid.ShortChannelId): bigint => 20_000n + ((scid * 2_654_435_761n) % 16_777_216n)

export class SyntheticChain {
  private readonly blocks = new Map<number, Array<SynthTx>>()
  private readonly spentBy = new Map<string, string>()
  /** Every transaction by txid: a lookup per funding output stays O(1) on a mainnet-size chain (bench). */
  private readonly byTxid = new Map<string, SynthTx>()
  tip: number
  /** Block 0's hash as bitcoind/Esplora show it: the chain hash (BOLT 7, internal byte order) reversed. */
  readonly genesis: string

  /** `chainHash`: the chain whose genesis block is block 0 (what `ChainSourceConfig.probe` checks). */
  constructor(tip: number, chainHash: Uint8Array = BITCOIN_REGTEST) {
    this.tip = tip
    this.genesis = toHex(Uint8Array.from(chainHash).reverse())
  }

  /** A chain holding a funding output for each announcement (value `capacity(scid)`), tip at `tip`. */
  static forAnnouncements(
    anns: ReadonlyArray<ChannelAnnouncement>,
    tip: number,
    capacity: (scid: Scid.ShortChannelId) => bigint = capacityOf,
    chainHash: Uint8Array = BITCOIN_REGTEST
  ): SyntheticChain {
    const chain = new SyntheticChain(tip, chainHash)
    for (const a of anns) chain.fund(a, capacity(a.shortChannelId))
    return chain
  }

  blockHash(height: number): string | undefined {
    // the height is readable from the hash's last 12 hex digits, so any block can be looked up by hash
    return height < 0 || height > this.tip
      ? undefined
      : height === 0
      ? this.genesis
      : sha(`block ${height}`).slice(0, 52) + height.toString(16).padStart(12, "0")
  }

  heightOf(hash: string): number | undefined {
    if (hash === this.genesis) return 0
    const h = Number.parseInt(hash.slice(52), 16)
    return this.blockHash(h) === hash ? h : undefined
  }

  /** The block's transactions (filler included); empty for a block without channels or spends. */
  txs(height: number): ReadonlyArray<SynthTx> {
    return height > this.tip ? [] : (this.blocks.get(height) ?? [])
  }

  tx(txid: string): SynthTx | undefined {
    return this.byTxid.get(txid)
  }

  isSpent(txid: string, vout: number): boolean {
    return this.spentBy.has(`${txid}:${vout}`)
  }

  /** The funding transaction at the announcement's scid, with filler transactions and outputs before it. */
  fund(ann: ChannelAnnouncement, valueSat: bigint): SynthTx {
    const scid = ann.shortChannelId
    const height = Scid.blockHeight(scid)
    const txIndex = Scid.txIndex(scid)
    const outputIndex = Scid.outputIndex(scid)
    const txs = this.blockTxs(height)
    while (txs.length <= txIndex) txs.push(this.filler(height, txs.length))
    const tx = txs[txIndex]
    while (tx.vout.length <= outputIndex) tx.vout.push({ scriptPubKey: Uint8Array.of(0x6a), valueSat: 0n })
    tx.vout[outputIndex] = { scriptPubKey: expectedFundingScriptPubKey(ann), valueSat }
    return tx
  }

  /** The funding output of `scid` (undefined if none). */
  outputAt(scid: Scid.ShortChannelId): { readonly tx: SynthTx; readonly output: SynthOutput } | undefined {
    const tx = this.txs(Scid.blockHeight(scid))[Scid.txIndex(scid)]
    const output = tx?.vout[Scid.outputIndex(scid)]
    return tx === undefined || output === undefined ? undefined : { tx, output }
  }

  /** Makes the output at `scid` pay to another script (an announcement lying about its keys). */
  breakScript(scid: Scid.ShortChannelId): void {
    const at = this.outputAt(scid)
    if (at !== undefined) at.output.scriptPubKey = Uint8Array.of(0x00, 0x14, ...new Uint8Array(20).fill(7))
  }

  /** Mines one block (empty, or spending `spends`' funding outputs); returns its height. */
  mine(spends: ReadonlyArray<Scid.ShortChannelId> = []): number {
    const height = ++this.tip
    if (spends.length > 0) {
      const vin = spends.flatMap((scid) => {
        const at = this.outputAt(scid)
        return at === undefined ? [] : [{ txid: at.tx.txid, vout: Scid.outputIndex(scid) }]
      })
      const tx: SynthTx = {
        txid: sha(`close ${height}`),
        vin,
        vout: [{ scriptPubKey: Uint8Array.of(0x51), valueSat: 1000n }]
      }
      this.byTxid.set(tx.txid, tx)
      this.blockTxs(height).push(this.filler(height, 0), tx)
      for (const i of vin) this.spentBy.set(`${i.txid}:${i.vout}`, tx.txid)
    }
    return height
  }

  private blockTxs(height: number): Array<SynthTx> {
    let txs = this.blocks.get(height)
    if (txs === undefined) {
      txs = []
      this.blocks.set(height, txs)
    }
    return txs
  }

  private filler(height: number, index: number): SynthTx {
    const tx: SynthTx = {
      txid: sha(`tx ${height} ${index}`),
      vin: [],
      vout: [{ scriptPubKey: Uint8Array.of(0x51), valueSat: 546n }]
    }
    this.byTxid.set(tx.txid, tx)
    return tx
  }
}
