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
 * Poly1305 uses six 22-bit limbs in doubles, where every product and sum stays an exact integer below 2^53 (see
 * `blocks`): 36 multiplications a block, where 13-bit limbs in 32-bit integers (poly1305-donna's 16-bit variant)
 * took 100. The tag check is constant-time in the tag bytes.
 */

/** "expand 32-byte k" as four little-endian words. */
const SIGMA0 = 0x61707865
const SIGMA1 = 0x3320646e
const SIGMA2 = 0x79622d32
const SIGMA3 = 0x6b206574

export const TAG_SIZE = 16
const NO_AD = new Uint8Array(0)

/** One 22-bit Poly1305 limb, and its inverse (exact: powers of two). */
const LIMB = 0x400000
const INV_LIMB = 1 / LIMB

/** The low 32 bits of `f` (up to 2^33) as four little-endian bytes at `at`. */
const writeWord = (b: Uint8Array, at: number, f: number): void => {
  const v = f >>> 0
  b[at] = v & 0xff
  b[at + 1] = (v >>> 8) & 0xff
  b[at + 2] = (v >>> 16) & 0xff
  b[at + 3] = v >>> 24
}

/** The carry out of a 33-bit sum (0 or 1), without a branch. */
const carry32 = (f: number): number => (f - (f >>> 0)) / 0x100000000

const le32 = (b: Uint8Array, at: number): number =>
  (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0

/** Word offsets in a key's one scratch array: key, keystream block, Poly1305 h and r (22-bit limbs) and s. */
const KEY = 0
const KS = 8
const H = 24
const R = 30
const S = 36
const WORDS = 40
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

  /** Poly1305 key = the first 32 bytes of block 0 (RFC 8439 §2.6): r clamped into 22-bit limbs, s as four words. */
  private polyKey(n0: number, n1: number, n2: number): void {
    block(this.w, 0, n0, n1, n2)
    this.loadPolyKey()
  }

  /** r (clamped, as limbs) and s from the one-time key in `w[KS..KS+8)`; h = 0. */
  private loadPolyKey(): void {
    const w = this.w
    const k0 = w[KS] & 0x0fffffff, k1 = w[KS + 1] & 0x0ffffffc, k2 = w[KS + 2] & 0x0ffffffc, k3 = w[KS + 3] & 0x0ffffffc
    w[R] = k0 & 0x3fffff
    w[R + 1] = ((k0 >>> 22) | (k1 << 10)) & 0x3fffff
    w[R + 2] = ((k1 >>> 12) | (k2 << 20)) & 0x3fffff
    w[R + 3] = (k2 >>> 2) & 0x3fffff
    w[R + 4] = ((k2 >>> 24) | (k3 << 8)) & 0x3fffff
    w[R + 5] = k3 >>> 14
    w[S] = w[KS + 4]
    w[S + 1] = w[KS + 5]
    w[S + 2] = w[KS + 6]
    w[S + 3] = w[KS + 7]
    w.fill(0, H, H + 6)
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

  /**
   * Poly1305 under a given one-time key over `message` zero-padded to a multiple of 16 bytes (the form the AEAD
   * uses): for tests against a reference, where no ChaCha20 block could produce the key they need.
   */
  poly1305Padded(oneTimeKey: Uint8Array, message: Uint8Array): Uint8Array {
    if (oneTimeKey.length !== 32) throw new RangeError(`Poly1305 key must be 32 bytes, got ${oneTimeKey.length}`)
    for (let i = 0; i < 8; i++) this.w[KS + i] = le32(oneTimeKey, i * 4)
    this.loadPolyKey()
    this.padded(message, 0, message.length)
    this.finish()
    return this.b.slice(TAG, TAG + TAG_SIZE)
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

  /**
   * Poly1305 over whole 16-byte blocks (each with its 2^128 bit: the AEAD pads, so no block is partial). Limbs of 22
   * bits held in doubles: with 2^132 = 20 mod 2^130 - 5, every product is below 2^50 and every limb's sum of six
   * below 2^53, so the arithmetic is exact, at 36 multiplications a block.
   */
  private blocks(m: Uint8Array, mpos: number, bytes: number): void {
    const w = this.w
    const r0 = w[R], r1 = w[R + 1], r2 = w[R + 2], r3 = w[R + 3], r4 = w[R + 4], r5 = w[R + 5]
    const s1 = 20 * r1, s2 = 20 * r2, s3 = 20 * r3, s4 = 20 * r4, s5 = 20 * r5
    let h0 = w[H], h1 = w[H + 1], h2 = w[H + 2], h3 = w[H + 3], h4 = w[H + 4], h5 = w[H + 5]
    while (bytes >= 16) {
      const m0 = m[mpos] | (m[mpos + 1] << 8) | (m[mpos + 2] << 16) | (m[mpos + 3] << 24)
      const m1 = m[mpos + 4] | (m[mpos + 5] << 8) | (m[mpos + 6] << 16) | (m[mpos + 7] << 24)
      const m2 = m[mpos + 8] | (m[mpos + 9] << 8) | (m[mpos + 10] << 16) | (m[mpos + 11] << 24)
      const m3 = m[mpos + 12] | (m[mpos + 13] << 8) | (m[mpos + 14] << 16) | (m[mpos + 15] << 24)
      h0 += m0 & 0x3fffff
      h1 += ((m0 >>> 22) | (m1 << 10)) & 0x3fffff
      h2 += ((m1 >>> 12) | (m2 << 20)) & 0x3fffff
      h3 += (m2 >>> 2) & 0x3fffff
      h4 += ((m2 >>> 24) | (m3 << 8)) & 0x3fffff
      h5 += (m3 >>> 14) | 0x40000

      const d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1
      let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2
      let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3
      let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4
      let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5
      let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0

      let c = Math.floor(d0 * INV_LIMB)
      h0 = d0 - c * LIMB
      d1 += c
      c = Math.floor(d1 * INV_LIMB)
      h1 = d1 - c * LIMB
      d2 += c
      c = Math.floor(d2 * INV_LIMB)
      h2 = d2 - c * LIMB
      d3 += c
      c = Math.floor(d3 * INV_LIMB)
      h3 = d3 - c * LIMB
      d4 += c
      c = Math.floor(d4 * INV_LIMB)
      h4 = d4 - c * LIMB
      d5 += c
      c = Math.floor(d5 * INV_LIMB)
      h5 = d5 - c * LIMB
      // the carry out of limb 5 weighs 2^132 = 20
      h0 += c * 20
      c = Math.floor(h0 * INV_LIMB)
      h0 -= c * LIMB
      h1 += c
      mpos += 16
      bytes -= 16
    }
    w[H] = h0
    w[H + 1] = h1
    w[H + 2] = h2
    w[H + 3] = h3
    w[H + 4] = h4
    w[H + 5] = h5
  }

  /** Fully reduces h mod 2^130 - 5, adds s, and writes the 16-byte tag at TAG. */
  private finish(): void {
    const w = this.w
    let h0 = w[H], h1 = w[H + 1], h2 = w[H + 2], h3 = w[H + 3], h4 = w[H + 4], h5 = w[H + 5]
    // twice: carry every limb into the next, then fold the bits above 2^130 back in (2^130 = 5)
    for (let k = 0; k < 2; k++) {
      let c = h0 >>> 22
      h0 &= 0x3fffff
      h1 += c
      c = h1 >>> 22
      h1 &= 0x3fffff
      h2 += c
      c = h2 >>> 22
      h2 &= 0x3fffff
      h3 += c
      c = h3 >>> 22
      h3 &= 0x3fffff
      h4 += c
      c = h4 >>> 22
      h4 &= 0x3fffff
      h5 += c
      c = h5 >>> 20
      h5 &= 0xfffff
      h0 += c * 5
    }
    // h < 2^130 now; g = h + 5 - 2^130, taken when h >= 2^130 - 5 (selected by mask, without a branch)
    let g0 = h0 + 5
    let c = g0 >>> 22
    g0 &= 0x3fffff
    let g1 = h1 + c
    c = g1 >>> 22
    g1 &= 0x3fffff
    let g2 = h2 + c
    c = g2 >>> 22
    g2 &= 0x3fffff
    let g3 = h3 + c
    c = g3 >>> 22
    g3 &= 0x3fffff
    let g4 = h4 + c
    c = g4 >>> 22
    g4 &= 0x3fffff
    let g5 = h5 + c
    const take = -(g5 >>> 20) // -1 when g >= 2^130
    g5 &= 0xfffff
    const keep = ~take
    h0 = (h0 & keep) | (g0 & take)
    h1 = (h1 & keep) | (g1 & take)
    h2 = (h2 & keep) | (g2 & take)
    h3 = (h3 & keep) | (g3 & take)
    h4 = (h4 & keep) | (g4 & take)
    h5 = (h5 & keep) | (g5 & take)

    // h mod 2^128 as four words, plus s, carried word to word: the tag, little-endian
    const tag = this.b
    let f = ((h0 | (h1 << 22)) >>> 0) + w[S]
    writeWord(tag, TAG, f)
    f = (((h1 >>> 10) | (h2 << 12)) >>> 0) + w[S + 1] + carry32(f)
    writeWord(tag, TAG + 4, f)
    f = (((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0) + w[S + 2] + carry32(f)
    writeWord(tag, TAG + 8, f)
    f = (((h4 >>> 8) | (h5 << 14)) >>> 0) + w[S + 3] + carry32(f)
    writeWord(tag, TAG + 12, f)
  }
}
