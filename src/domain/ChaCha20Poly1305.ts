/**
 * ChaCha20-Poly1305 (RFC 8439) in plain TypeScript, for the BOLT 8 transport's per-frame seal/open.
 *
 * Why not node's `crypto`: its AEAD has no one-shot call, so every frame half (the 18-byte length, then the body)
 * costs a `createDecipheriv` — an OpenSSL context set up and torn down, plus the JS wrapper objects — and that setup
 * was most of the cost of receiving gossip (~4.5 µs to open a 2-byte length, ~5 µs a 230-byte body). Here a key is
 * expanded once (per BOLT 8 rotation, every 1000 uses) and a frame costs only the arithmetic; the result goes
 * straight into a buffer of the caller's choosing. Checked byte for byte against the RFC 8439 vectors and against
 * node's implementation (test/ChaCha20Poly1305.test.ts).
 *
 * Poly1305 uses ten 13-bit limbs (poly1305-donna's 16-bit variant) so every product and partial sum stays exact in
 * 32-bit integer arithmetic. The tag check is constant-time in the tag bytes.
 */

/** "expand 32-byte k" as four little-endian words. */
const SIGMA0 = 0x61707865
const SIGMA1 = 0x3320646e
const SIGMA2 = 0x79622d32
const SIGMA3 = 0x6b206574

export const TAG_SIZE = 16
const NO_AD = new Uint8Array(0)

const le32 = (b: Uint8Array, at: number): number =>
  (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0

/** Word offsets in a key's one scratch array: key, keystream block, Poly1305 h, g, r (13-bit limbs) and s. */
const KEY = 0
const KS = 8
const H = 24
const G = 34
const R = 44
const S = 54
const WORDS = 62
/** Byte offsets in its byte scratch: the tag, a padding block, a 2-byte plaintext. */
const TAG = 0
const PAD = 16
const U16 = 32

/**
 * One ChaCha20 block for the key in `w[KEY..KEY+8)`, counter and nonce (3 words), written as 16 words into
 * `w[KS..KS+16)`.
 */
const block = (w: Uint32Array, counter: number, n0: number, n1: number, n2: number): void => {
  const j4 = w[KEY], j5 = w[KEY + 1], j6 = w[KEY + 2], j7 = w[KEY + 3]
  const j8 = w[KEY + 4], j9 = w[KEY + 5], j10 = w[KEY + 6], j11 = w[KEY + 7]
  let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3
  let x4 = j4, x5 = j5, x6 = j6, x7 = j7, x8 = j8, x9 = j9, x10 = j10, x11 = j11
  let x12 = counter, x13 = n0, x14 = n1, x15 = n2
  for (let i = 0; i < 10; i++) {
    // column round
    x0 = (x0 + x4) | 0
    x12 ^= x0
    x12 = (x12 << 16) | (x12 >>> 16)
    x8 = (x8 + x12) | 0
    x4 ^= x8
    x4 = (x4 << 12) | (x4 >>> 20)
    x0 = (x0 + x4) | 0
    x12 ^= x0
    x12 = (x12 << 8) | (x12 >>> 24)
    x8 = (x8 + x12) | 0
    x4 ^= x8
    x4 = (x4 << 7) | (x4 >>> 25)
    x1 = (x1 + x5) | 0
    x13 ^= x1
    x13 = (x13 << 16) | (x13 >>> 16)
    x9 = (x9 + x13) | 0
    x5 ^= x9
    x5 = (x5 << 12) | (x5 >>> 20)
    x1 = (x1 + x5) | 0
    x13 ^= x1
    x13 = (x13 << 8) | (x13 >>> 24)
    x9 = (x9 + x13) | 0
    x5 ^= x9
    x5 = (x5 << 7) | (x5 >>> 25)
    x2 = (x2 + x6) | 0
    x14 ^= x2
    x14 = (x14 << 16) | (x14 >>> 16)
    x10 = (x10 + x14) | 0
    x6 ^= x10
    x6 = (x6 << 12) | (x6 >>> 20)
    x2 = (x2 + x6) | 0
    x14 ^= x2
    x14 = (x14 << 8) | (x14 >>> 24)
    x10 = (x10 + x14) | 0
    x6 ^= x10
    x6 = (x6 << 7) | (x6 >>> 25)
    x3 = (x3 + x7) | 0
    x15 ^= x3
    x15 = (x15 << 16) | (x15 >>> 16)
    x11 = (x11 + x15) | 0
    x7 ^= x11
    x7 = (x7 << 12) | (x7 >>> 20)
    x3 = (x3 + x7) | 0
    x15 ^= x3
    x15 = (x15 << 8) | (x15 >>> 24)
    x11 = (x11 + x15) | 0
    x7 ^= x11
    x7 = (x7 << 7) | (x7 >>> 25)
    // diagonal round
    x0 = (x0 + x5) | 0
    x15 ^= x0
    x15 = (x15 << 16) | (x15 >>> 16)
    x10 = (x10 + x15) | 0
    x5 ^= x10
    x5 = (x5 << 12) | (x5 >>> 20)
    x0 = (x0 + x5) | 0
    x15 ^= x0
    x15 = (x15 << 8) | (x15 >>> 24)
    x10 = (x10 + x15) | 0
    x5 ^= x10
    x5 = (x5 << 7) | (x5 >>> 25)
    x1 = (x1 + x6) | 0
    x12 ^= x1
    x12 = (x12 << 16) | (x12 >>> 16)
    x11 = (x11 + x12) | 0
    x6 ^= x11
    x6 = (x6 << 12) | (x6 >>> 20)
    x1 = (x1 + x6) | 0
    x12 ^= x1
    x12 = (x12 << 8) | (x12 >>> 24)
    x11 = (x11 + x12) | 0
    x6 ^= x11
    x6 = (x6 << 7) | (x6 >>> 25)
    x2 = (x2 + x7) | 0
    x13 ^= x2
    x13 = (x13 << 16) | (x13 >>> 16)
    x8 = (x8 + x13) | 0
    x7 ^= x8
    x7 = (x7 << 12) | (x7 >>> 20)
    x2 = (x2 + x7) | 0
    x13 ^= x2
    x13 = (x13 << 8) | (x13 >>> 24)
    x8 = (x8 + x13) | 0
    x7 ^= x8
    x7 = (x7 << 7) | (x7 >>> 25)
    x3 = (x3 + x4) | 0
    x14 ^= x3
    x14 = (x14 << 16) | (x14 >>> 16)
    x9 = (x9 + x14) | 0
    x4 ^= x9
    x4 = (x4 << 12) | (x4 >>> 20)
    x3 = (x3 + x4) | 0
    x14 ^= x3
    x14 = (x14 << 8) | (x14 >>> 24)
    x9 = (x9 + x14) | 0
    x4 ^= x9
    x4 = (x4 << 7) | (x4 >>> 25)
  }
  w[KS + 0] = x0 + SIGMA0
  w[KS + 1] = x1 + SIGMA1
  w[KS + 2] = x2 + SIGMA2
  w[KS + 3] = x3 + SIGMA3
  w[KS + 4] = x4 + j4
  w[KS + 5] = x5 + j5
  w[KS + 6] = x6 + j6
  w[KS + 7] = x7 + j7
  w[KS + 8] = x8 + j8
  w[KS + 9] = x9 + j9
  w[KS + 10] = x10 + j10
  w[KS + 11] = x11 + j11
  w[KS + 12] = x12 + counter
  w[KS + 13] = x13 + n0
  w[KS + 14] = x14 + n1
  w[KS + 15] = x15 + n2
}

/**
 * A ChaCha20-Poly1305 key, expanded once, with its scratch space. Not safe to share between concurrent users (there
 * are none: JS is single-threaded and every call completes synchronously).
 */
export class ChaChaPolyKey {
  /** Every word of state in one array (see KEY … S), every byte in another: a key costs two allocations. */
  private readonly w = new Uint32Array(WORDS)
  private readonly b = new Uint8Array(34)

  constructor(key: Uint8Array) {
    this.rekey(key)
  }

  /** Replaces the key (BOLT 8 rotation), keeping the scratch space. */
  rekey(key: Uint8Array): void {
    if (key.length !== 32) throw new RangeError(`ChaCha20-Poly1305 key must be 32 bytes, got ${key.length}`)
    for (let i = 0; i < 8; i++) this.w[KEY + i] = le32(key, i * 4)
  }

  /**
   * Encrypts `plaintext` into `out` at `offset` (ciphertext then the 16-byte tag, so `plaintext.length + 16` bytes)
   * under the 96-bit nonce `n0 ‖ n1 ‖ n2` (three little-endian words), authenticating `ad` too. `out` may not overlap
   * `plaintext` unless it is the same position.
   */
  sealInto(
    n0: number,
    n1: number,
    n2: number,
    ad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number
  ): number {
    this.polyKey(n0, n1, n2)
    this.xor(n0, n1, n2, plaintext, 0, plaintext.length, out, offset)
    this.mac(ad, out, offset, plaintext.length)
    const tagAt = offset + plaintext.length
    for (let i = 0; i < TAG_SIZE; i++) out[tagAt + i] = this.b[TAG + i]
    return plaintext.length + TAG_SIZE
  }

  /**
   * Checks the tag of `sealed[from, from + length + 16)` (ciphertext then tag) and, if it holds, decrypts the
   * ciphertext into `out` at `offset` and returns true; returns false (writing nothing) when it does not verify.
   */
  openInto(
    n0: number,
    n1: number,
    n2: number,
    ad: Uint8Array,
    sealed: Uint8Array,
    from: number,
    length: number,
    out: Uint8Array,
    offset: number
  ): boolean {
    this.polyKey(n0, n1, n2)
    this.mac(ad, sealed, from, length)
    // constant-time in the tag: no early exit on the first differing byte
    let diff = 0
    const tagAt = from + length
    for (let i = 0; i < TAG_SIZE; i++) diff |= this.b[TAG + i] ^ sealed[tagAt + i]
    if (diff !== 0) return false
    this.xor(n0, n1, n2, sealed, from, length, out, offset)
    return true
  }

  /**
   * `openInto` for a sealed 2-byte plaintext with no AD (a BOLT 8 length header) at `sealed[from]`, into scratch:
   * the big-endian u16, or -1 when the tag does not verify. Allocates nothing.
   */
  openU16(n0: number, n1: number, n2: number, sealed: Uint8Array, from: number): number {
    if (!this.openInto(n0, n1, n2, NO_AD, sealed, from, 2, this.b, U16)) return -1
    return (this.b[U16] << 8) | this.b[U16 + 1]
  }

  /** Poly1305 key = the first 32 bytes of block 0 (RFC 8439 §2.6): r clamped into limbs, s as u16 words. */
  private polyKey(n0: number, n1: number, n2: number): void {
    const w = this.w
    block(w, 0, n0, n1, n2)
    const t0 = w[KS] & 0xffff, t1 = w[KS] >>> 16, t2 = w[KS + 1] & 0xffff, t3 = w[KS + 1] >>> 16
    const t4 = w[KS + 2] & 0xffff, t5 = w[KS + 2] >>> 16, t6 = w[KS + 3] & 0xffff, t7 = w[KS + 3] >>> 16
    w[R] = t0 & 0x1fff
    w[R + 1] = ((t0 >>> 13) | (t1 << 3)) & 0x1fff
    w[R + 2] = ((t1 >>> 10) | (t2 << 6)) & 0x1f03
    w[R + 3] = ((t2 >>> 7) | (t3 << 9)) & 0x1fff
    w[R + 4] = ((t3 >>> 4) | (t4 << 12)) & 0x00ff
    w[R + 5] = (t4 >>> 1) & 0x1ffe
    w[R + 6] = ((t4 >>> 14) | (t5 << 2)) & 0x1fff
    w[R + 7] = ((t5 >>> 11) | (t6 << 5)) & 0x1f81
    w[R + 8] = ((t6 >>> 8) | (t7 << 8)) & 0x1fff
    w[R + 9] = (t7 >>> 5) & 0x007f
    for (let i = 0; i < 4; i++) {
      w[S + 2 * i] = w[KS + 4 + i] & 0xffff
      w[S + 2 * i + 1] = w[KS + 4 + i] >>> 16
    }
    w.fill(0, H, H + 10)
  }

  /** XORs the keystream (blocks 1, 2, …) over `input[from, from + length)` into `out` at `offset`. */
  private xor(
    n0: number,
    n1: number,
    n2: number,
    input: Uint8Array,
    from: number,
    length: number,
    out: Uint8Array,
    offset: number
  ): void {
    const w = this.w
    let counter = 1
    let i = 0
    while (i < length) {
      block(w, counter++, n0, n1, n2)
      const n = Math.min(64, length - i)
      let k = 0
      // whole words first, then the tail bytes of the last word
      for (; k + 4 <= n; k += 4) {
        const x = w[KS + (k >>> 2)]
        const a = from + i + k
        const o = offset + i + k
        out[o] = input[a] ^ (x & 0xff)
        out[o + 1] = input[a + 1] ^ ((x >>> 8) & 0xff)
        out[o + 2] = input[a + 2] ^ ((x >>> 16) & 0xff)
        out[o + 3] = input[a + 3] ^ (x >>> 24)
      }
      for (; k < n; k++) out[offset + i + k] = input[from + i + k] ^ ((w[KS + (k >>> 2)] >>> ((k & 3) * 8)) & 0xff)
      i += n
    }
  }

  /**
   * The RFC 8439 §2.8 tag into the byte scratch at TAG: Poly1305 over ad ‖ pad16 ‖ ciphertext ‖ pad16 ‖ le64(|ad|) ‖
   * le64(|ciphertext|), ciphertext being `data[from, from + length)`.
   */
  private mac(ad: Uint8Array, data: Uint8Array, from: number, length: number): void {
    if (ad.length > 0) this.padded(ad, 0, ad.length)
    this.padded(data, from, length)
    const p = this.b
    p.fill(0, PAD, PAD + 16)
    p[PAD] = ad.length & 0xff
    p[PAD + 1] = (ad.length >>> 8) & 0xff
    p[PAD + 2] = (ad.length >>> 16) & 0xff
    p[PAD + 3] = ad.length >>> 24
    p[PAD + 8] = length & 0xff
    p[PAD + 9] = (length >>> 8) & 0xff
    p[PAD + 10] = (length >>> 16) & 0xff
    p[PAD + 11] = length >>> 24
    this.blocks(p, PAD, 16)
    this.finish()
  }

  /** Absorbs `m[from, from + length)` zero-padded to a multiple of 16. */
  private padded(m: Uint8Array, from: number, length: number): void {
    const whole = length & ~15
    if (whole > 0) this.blocks(m, from, whole)
    const rest = length - whole
    if (rest > 0) {
      const p = this.b
      p.fill(0, PAD, PAD + 16)
      for (let i = 0; i < rest; i++) p[PAD + i] = m[from + whole + i]
      this.blocks(p, PAD, 16)
    }
  }

  /** Poly1305 over whole 16-byte blocks (each with its 2^128 bit: the AEAD pads, so no block is partial). */
  private blocks(m: Uint8Array, mpos: number, bytes: number): void {
    const hibit = 1 << 11
    const w = this.w
    const r0 = w[R], r1 = w[R + 1], r2 = w[R + 2], r3 = w[R + 3], r4 = w[R + 4]
    const r5 = w[R + 5], r6 = w[R + 6], r7 = w[R + 7], r8 = w[R + 8], r9 = w[R + 9]
    let h0 = w[H], h1 = w[H + 1], h2 = w[H + 2], h3 = w[H + 3], h4 = w[H + 4]
    let h5 = w[H + 5], h6 = w[H + 6], h7 = w[H + 7], h8 = w[H + 8], h9 = w[H + 9]
    while (bytes >= 16) {
      const t0 = m[mpos] | (m[mpos + 1] << 8)
      const t1 = m[mpos + 2] | (m[mpos + 3] << 8)
      const t2 = m[mpos + 4] | (m[mpos + 5] << 8)
      const t3 = m[mpos + 6] | (m[mpos + 7] << 8)
      const t4 = m[mpos + 8] | (m[mpos + 9] << 8)
      const t5 = m[mpos + 10] | (m[mpos + 11] << 8)
      const t6 = m[mpos + 12] | (m[mpos + 13] << 8)
      const t7 = m[mpos + 14] | (m[mpos + 15] << 8)
      h0 += t0 & 0x1fff
      h1 += ((t0 >>> 13) | (t1 << 3)) & 0x1fff
      h2 += ((t1 >>> 10) | (t2 << 6)) & 0x1fff
      h3 += ((t2 >>> 7) | (t3 << 9)) & 0x1fff
      h4 += ((t3 >>> 4) | (t4 << 12)) & 0x1fff
      h5 += (t4 >>> 1) & 0x1fff
      h6 += ((t4 >>> 14) | (t5 << 2)) & 0x1fff
      h7 += ((t5 >>> 11) | (t6 << 5)) & 0x1fff
      h8 += ((t6 >>> 8) | (t7 << 8)) & 0x1fff
      h9 += (t7 >>> 5) | hibit

      // h *= r mod 2^130 - 5, each limb's sum split in two halves so it stays below 2^32
      let c = 0
      let d0 = c + h0 * r0 + h1 * (5 * r9) + h2 * (5 * r8) + h3 * (5 * r7) + h4 * (5 * r6)
      c = d0 >>> 13
      d0 &= 0x1fff
      d0 += h5 * (5 * r5) + h6 * (5 * r4) + h7 * (5 * r3) + h8 * (5 * r2) + h9 * (5 * r1)
      c += d0 >>> 13
      d0 &= 0x1fff

      let d1 = c + h0 * r1 + h1 * r0 + h2 * (5 * r9) + h3 * (5 * r8) + h4 * (5 * r7)
      c = d1 >>> 13
      d1 &= 0x1fff
      d1 += h5 * (5 * r6) + h6 * (5 * r5) + h7 * (5 * r4) + h8 * (5 * r3) + h9 * (5 * r2)
      c += d1 >>> 13
      d1 &= 0x1fff

      let d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * (5 * r9) + h4 * (5 * r8)
      c = d2 >>> 13
      d2 &= 0x1fff
      d2 += h5 * (5 * r7) + h6 * (5 * r6) + h7 * (5 * r5) + h8 * (5 * r4) + h9 * (5 * r3)
      c += d2 >>> 13
      d2 &= 0x1fff

      let d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * (5 * r9)
      c = d3 >>> 13
      d3 &= 0x1fff
      d3 += h5 * (5 * r8) + h6 * (5 * r7) + h7 * (5 * r6) + h8 * (5 * r5) + h9 * (5 * r4)
      c += d3 >>> 13
      d3 &= 0x1fff

      let d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0
      c = d4 >>> 13
      d4 &= 0x1fff
      d4 += h5 * (5 * r9) + h6 * (5 * r8) + h7 * (5 * r7) + h8 * (5 * r6) + h9 * (5 * r5)
      c += d4 >>> 13
      d4 &= 0x1fff

      let d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1
      c = d5 >>> 13
      d5 &= 0x1fff
      d5 += h5 * r0 + h6 * (5 * r9) + h7 * (5 * r8) + h8 * (5 * r7) + h9 * (5 * r6)
      c += d5 >>> 13
      d5 &= 0x1fff

      let d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2
      c = d6 >>> 13
      d6 &= 0x1fff
      d6 += h5 * r1 + h6 * r0 + h7 * (5 * r9) + h8 * (5 * r8) + h9 * (5 * r7)
      c += d6 >>> 13
      d6 &= 0x1fff

      let d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3
      c = d7 >>> 13
      d7 &= 0x1fff
      d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * (5 * r9) + h9 * (5 * r8)
      c += d7 >>> 13
      d7 &= 0x1fff

      let d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4
      c = d8 >>> 13
      d8 &= 0x1fff
      d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * (5 * r9)
      c += d8 >>> 13
      d8 &= 0x1fff

      let d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5
      c = d9 >>> 13
      d9 &= 0x1fff
      d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0
      c += d9 >>> 13
      d9 &= 0x1fff

      c = ((c << 2) + c) | 0
      c = (c + d0) | 0
      d0 = c & 0x1fff
      c = c >>> 13
      d1 += c

      h0 = d0
      h1 = d1
      h2 = d2
      h3 = d3
      h4 = d4
      h5 = d5
      h6 = d6
      h7 = d7
      h8 = d8
      h9 = d9
      mpos += 16
      bytes -= 16
    }
    w[H + 0] = h0
    w[H + 1] = h1
    w[H + 2] = h2
    w[H + 3] = h3
    w[H + 4] = h4
    w[H + 5] = h5
    w[H + 6] = h6
    w[H + 7] = h7
    w[H + 8] = h8
    w[H + 9] = h9
  }

  /** Fully reduces h mod 2^130 - 5, adds s, and writes the 16-byte tag at TAG. */
  private finish(): void {
    const w = this.w
    let c = w[H + 1] >>> 13
    w[H + 1] &= 0x1fff
    for (let i = 2; i < 10; i++) {
      w[H + i] += c
      c = w[H + i] >>> 13
      w[H + i] &= 0x1fff
    }
    w[H] += c * 5
    c = w[H] >>> 13
    w[H] &= 0x1fff
    w[H + 1] += c
    c = w[H + 1] >>> 13
    w[H + 1] &= 0x1fff
    w[H + 2] += c

    // g = h + 5 - 2^130; take g when h >= 2^130 - 5 (selected by mask, without a branch)
    w[G] = w[H] + 5
    c = w[G] >>> 13
    w[G] &= 0x1fff
    for (let i = 1; i < 10; i++) {
      w[G + i] = w[H + i] + c
      c = w[G + i] >>> 13
      w[G + i] &= 0x1fff
    }
    let mask = (c ^ 1) - 1
    for (let i = 0; i < 10; i++) w[G + i] &= mask
    mask = ~mask
    for (let i = 0; i < 10; i++) w[H + i] = (w[H + i] & mask) | w[G + i]

    // h as eight 16-bit words, plus s, carried word to word: the tag, little-endian
    const tag = this.b
    let f = ((w[H] | (w[H + 1] << 13)) & 0xffff) + w[S]
    tag[0] = f & 0xff
    tag[1] = (f >>> 8) & 0xff
    f = (((w[H + 1] >>> 3) | (w[H + 2] << 10)) & 0xffff) + w[S + 1] + (f >>> 16)
    tag[2] = f & 0xff
    tag[3] = (f >>> 8) & 0xff
    f = (((w[H + 2] >>> 6) | (w[H + 3] << 7)) & 0xffff) + w[S + 2] + (f >>> 16)
    tag[4] = f & 0xff
    tag[5] = (f >>> 8) & 0xff
    f = (((w[H + 3] >>> 9) | (w[H + 4] << 4)) & 0xffff) + w[S + 3] + (f >>> 16)
    tag[6] = f & 0xff
    tag[7] = (f >>> 8) & 0xff
    f = (((w[H + 4] >>> 12) | (w[H + 5] << 1) | (w[H + 6] << 14)) & 0xffff) + w[S + 4] + (f >>> 16)
    tag[8] = f & 0xff
    tag[9] = (f >>> 8) & 0xff
    f = (((w[H + 6] >>> 2) | (w[H + 7] << 11)) & 0xffff) + w[S + 5] + (f >>> 16)
    tag[10] = f & 0xff
    tag[11] = (f >>> 8) & 0xff
    f = (((w[H + 7] >>> 5) | (w[H + 8] << 8)) & 0xffff) + w[S + 6] + (f >>> 16)
    tag[12] = f & 0xff
    tag[13] = (f >>> 8) & 0xff
    f = (((w[H + 8] >>> 8) | (w[H + 9] << 5)) & 0xffff) + w[S + 7] + (f >>> 16)
    tag[14] = f & 0xff
    tag[15] = (f >>> 8) & 0xff
  }
}
