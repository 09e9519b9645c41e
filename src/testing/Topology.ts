/**
 * A channel-graph shape without keys or signatures: which node pairs have channels, their capacities and
 * per-direction policies. The synthetic graph generator signs such a shape with generated keys; the default shape is
 * the real mainnet topology in data/ (see testing/MainnetTopology), the fallback a seeded power-law graph.
 */

export interface Policy {
  readonly htlcMinimumMsat: bigint
  readonly htlcMaximumMsat: bigint
  readonly feeBaseMsat: number
  readonly feeProportionalMillionths: number
  readonly cltvExpiryDelta: number
}

export interface TopologyChannel {
  /** Node indices; `node1`'s policy is `policy1` whatever key order the generated keys end up in. */
  readonly node1: number
  readonly node2: number
  readonly capacitySat: bigint
  /** undefined: that direction is disabled (or never published a usable update). */
  readonly policy1: Policy | undefined
  readonly policy2: Policy | undefined
}

export interface Topology {
  readonly name: string
  readonly nodeCount: number
  readonly channels: ReadonlyArray<TopologyChannel>
}

/** Parses `channels.csv` of data/mainnet-2026-02-03 (header line, then one channel per line; see its README). */
export const parseChannelsCsv = (text: string, nodeCount: number, name: string): Topology => {
  const lines = text.split("\n")
  const channels: Array<TopologyChannel> = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    if (line === undefined || line.length === 0) continue
    const f = line.split(",")
    const policy = (at: number): Policy | undefined =>
      f[at] === "1"
        ? undefined
        : {
          htlcMinimumMsat: BigInt(f[at + 1] ?? "0"),
          htlcMaximumMsat: BigInt(f[at + 2] ?? "0"),
          feeBaseMsat: Number(f[at + 3]),
          feeProportionalMillionths: Number(f[at + 4]),
          cltvExpiryDelta: Number(f[at + 5])
        }
    channels.push({
      node1: Number(f[0]),
      node2: Number(f[1]),
      capacitySat: BigInt(f[2] ?? "0"),
      policy1: policy(3),
      policy2: policy(9)
    })
  }
  return { name, nodeCount, channels }
}

/** Deterministic 32-bit PRNG (mulberry32): the generator must give the same graph for the same seed everywhere. */
export const prng = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A seeded power-law shape (preferential attachment), used when the mainnet data is not at hand: a few hubs hold
 * many channels and most nodes one or two, like the real network.
 */
export const syntheticTopology = (channelCount: number, seed: number): Topology => {
  const rand = prng(seed ^ 0x5eed)
  const nodeCount = Math.max(2, Math.round(channelCount / 2.9))
  const ends: Array<number> = [0, 1]
  const channels: Array<TopologyChannel> = []
  const policy = (): Policy => ({
    htlcMinimumMsat: 1000n,
    htlcMaximumMsat: 990_000_000n,
    feeBaseMsat: Math.floor(rand() * 2000),
    feeProportionalMillionths: Math.floor(rand() * 1500),
    cltvExpiryDelta: [40, 80, 144][Math.floor(rand() * 3)] ?? 144
  })
  for (let i = 0; i < channelCount; i++) {
    // new nodes join until all exist, attaching to an end chosen by degree; afterwards hubs link among themselves
    const fresh = i + 2 < nodeCount ? i + 2 : Math.floor(rand() * nodeCount)
    let other = ends[Math.floor(rand() * ends.length)] ?? 0
    if (other === fresh) other = (fresh + 1) % nodeCount
    ends.push(fresh, other)
    channels.push({
      node1: fresh,
      node2: other,
      capacitySat: BigInt(100_000 + Math.floor(rand() * 10_000_000)),
      policy1: rand() < 0.85 ? policy() : undefined,
      policy2: rand() < 0.85 ? policy() : undefined
    })
  }
  return { name: `synthetic-${seed}`, nodeCount, channels }
}
