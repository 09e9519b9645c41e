/**
 * A sorted set as a list of sorted chunks (a one-level B-tree): O(log n) seek, O(√n)-ish insert/delete, in-order
 * walks from any key. The in-memory GraphStore keeps its range and horizon indices in it, so a simulated peer
 * holding a mainnet-size graph (50k channels) answers range and horizon queries without re-sorting.
 */
export class SortedKeys<K> {
  private chunks: Array<Array<K>> = []
  private count = 0

  constructor(
    private readonly compare: (a: K, b: K) => number,
    private readonly maxChunk = 256
  ) {}

  get size(): number {
    return this.count
  }

  /** Index of the first chunk whose last key is >= key (chunks.length if none). */
  private chunkFor(key: K): number {
    let lo = 0
    let hi = this.chunks.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const chunk = this.chunks[mid]
      if (this.compare(chunk[chunk.length - 1], key) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Index of the first key in `chunk` that is >= key (or > key when `strict`). */
  private position(chunk: ReadonlyArray<K>, key: K, strict: boolean): number {
    let lo = 0
    let hi = chunk.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = this.compare(chunk[mid], key)
      if (c < 0 || (strict && c === 0)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  has(key: K): boolean {
    const ci = this.chunkFor(key)
    if (ci === this.chunks.length) return false
    const chunk = this.chunks[ci]
    const i = this.position(chunk, key, false)
    return i < chunk.length && this.compare(chunk[i], key) === 0
  }

  /** Adds `key`; false if it was already there. */
  insert(key: K): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key])
      this.count++
      return true
    }
    let ci = this.chunkFor(key)
    if (ci === this.chunks.length) ci-- // larger than everything: append to the last chunk
    const chunk = this.chunks[ci]
    const i = this.position(chunk, key, false)
    if (i < chunk.length && this.compare(chunk[i], key) === 0) return false
    chunk.splice(i, 0, key)
    this.count++
    if (chunk.length > this.maxChunk) {
      const half = chunk.length >>> 1
      this.chunks.splice(ci + 1, 0, chunk.splice(half))
    }
    return true
  }

  /** Removes `key`; false if it was not there. */
  delete(key: K): boolean {
    const ci = this.chunkFor(key)
    if (ci === this.chunks.length) return false
    const chunk = this.chunks[ci]
    const i = this.position(chunk, key, false)
    if (i >= chunk.length || this.compare(chunk[i], key) !== 0) return false
    chunk.splice(i, 1)
    this.count--
    if (chunk.length === 0) this.chunks.splice(ci, 1)
    return true
  }

  /** The largest key, if any. */
  last(): K | undefined {
    const chunk = this.chunks[this.chunks.length - 1]
    return chunk === undefined ? undefined : chunk[chunk.length - 1]
  }

  /** Keys in ascending order starting at `from` (inclusive, or exclusive when `after`); all keys if undefined. */
  *walk(from: K | undefined, after = false): Generator<K> {
    let ci = from === undefined ? 0 : this.chunkFor(from)
    let i = from === undefined || ci === this.chunks.length ? 0 : this.position(this.chunks[ci], from, after)
    for (; ci < this.chunks.length; ci++, i = 0) {
      const chunk = this.chunks[ci]
      for (; i < chunk.length; i++) yield chunk[i]
    }
  }
}
