/**
 * BOLT 8: Noise_XK_secp256k1_ChaChaPoly_SHA256 — the three-act handshake and the encrypted message framing.
 *
 * Pure, synchronous code over `Uint8Array` (no Effect runtime, no I/O) so that every BOLT 8 test vector can be
 * replayed byte for byte, and so the hot path (frame encrypt/decrypt) is a plain function call. Failures a remote
 * can provoke are returned as `Either.left(NoiseError)`; only our own programming errors throw.
 *
 * Crypto: node `crypto` for SHA-256, HKDF and ChaCha20-Poly1305, native libsecp256k1 for ECDH (the project's decided
 * stack: no hand-written cryptography, however fast; node's per-frame cipher setup is the transport's main cost).
 */
import * as crypto from "node:crypto"
import { Data, Either } from "effect"
import secp256k1 from "secp256k1"
import type { PublicKey } from "./Messages.js"

/**
 * What went wrong. The handshake codes are the ones BOLT 8's test vectors name (`ACT2_BAD_VERSION` …); the frame
 * codes cover the transport phase.
 */
export type NoiseErrorCode =
  | "ACT1_READ_FAILED"
  | "ACT1_BAD_VERSION"
  | "ACT1_BAD_PUBKEY"
  | "ACT1_BAD_TAG"
  | "ACT2_READ_FAILED"
  | "ACT2_BAD_VERSION"
  | "ACT2_BAD_PUBKEY"
  | "ACT2_BAD_TAG"
  | "ACT3_READ_FAILED"
  | "ACT3_BAD_VERSION"
  | "ACT3_BAD_CIPHERTEXT"
  | "ACT3_BAD_PUBKEY"
  | "ACT3_BAD_TAG"
  /** The 18-byte encrypted length failed its MAC. */
  | "LENGTH_BAD_TAG"
  /** The encrypted body failed its MAC. */
  | "BODY_BAD_TAG"
  /** A frame length that cannot carry a Lightning message (fewer than the 2 type bytes), or a body > 65535. */
  | "LENGTH_OUT_OF_RANGE"

/** A BOLT 8 failure: the connection cannot continue (nonces are out of step or the peer is not who it claims). */
export class NoiseError extends Data.TaggedError("NoiseError")<{
  readonly code: NoiseErrorCode
  readonly detail: string
}> {}

const fail = (code: NoiseErrorCode, detail: string) => Either.left(new NoiseError({ code, detail }))

// ---------------------------------------------------------------------------------------------------------------
// Primitives

export const ACT_ONE_SIZE = 50
export const ACT_TWO_SIZE = 50
export const ACT_THREE_SIZE = 66
/** Encrypted length prefix: 2 bytes + 16-byte MAC. */
export const LENGTH_HEADER_SIZE = 18
export const MAC_SIZE = 16
/** BOLT 8: the length prefix is a u16, so no message can be longer. */
export const MAX_MESSAGE_SIZE = 65535
/** BOLT 1: every message starts with a 2-byte type. */
export const MIN_MESSAGE_SIZE = 2
/** BOLT 8: a key is rotated after it has been used for this many encryptions (nonces 0..999). */
export const ROTATION_INTERVAL = 1000

const PROTOCOL_NAME = Buffer.from("Noise_XK_secp256k1_ChaChaPoly_SHA256", "ascii")
const PROLOGUE = Buffer.from("lightning", "ascii")
const EMPTY = new Uint8Array(0)

const sha256 = (...parts: ReadonlyArray<Uint8Array>): Buffer => {
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest()
}

/** BOLT 8 `HKDF(salt, ikm)`: RFC 5869 with SHA-256, empty info, 64 bytes out, split into two 32-byte keys. */
const hkdf = (salt: Uint8Array, ikm: Uint8Array): readonly [Buffer, Buffer] => {
  const out = Buffer.from(crypto.hkdfSync("sha256", ikm, salt, EMPTY, 64))
  return [out.subarray(0, 32), out.subarray(32, 64)]
}

/** 96-bit ChaCha20-Poly1305 nonce: 32 zero bits then the 64-bit little-endian counter (BOLT 8). */
const writeNonce = (nonce: Buffer, n: number): Buffer => {
  // byte stores, not three `writeUInt32LE` calls (each a checked call into node's buffer code, twice per frame)
  const hi = Math.floor(n / 0x1_0000_0000)
  nonce[0] =
    nonce[1] =
    nonce[2] =
    nonce[3] =
      0
  nonce[4] = n & 0xff
  nonce[5] = (n >>> 8) & 0xff
  nonce[6] = (n >>> 16) & 0xff
  nonce[7] = (n >>> 24) & 0xff
  nonce[8] = hi & 0xff
  nonce[9] = (hi >>> 8) & 0xff
  nonce[10] = (hi >>> 16) & 0xff
  nonce[11] = (hi >>> 24) & 0xff
  return nonce
}
const nonceOf = (n: number): Buffer => writeNonce(Buffer.alloc(12), n)

/** One options object for every cipher: node only reads it, so a literal per frame was garbage for nothing. */
const AEAD_OPTIONS = { authTagLength: MAC_SIZE } as const

/** `encryptWithAD`: ciphertext || 16-byte tag, written into `out` at `offset`. Returns the bytes written. */
const sealInto = (
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number
): number => {
  const cipher = crypto.createCipheriv("chacha20-poly1305", key, nonce, AEAD_OPTIONS)
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length })
  const body = cipher.update(plaintext)
  cipher.final()
  out.set(body, offset)
  out.set(cipher.getAuthTag(), offset + body.length)
  return body.length + MAC_SIZE
}

const seal = (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const out = new Uint8Array(plaintext.length + MAC_SIZE)
  sealInto(key, nonce, ad, plaintext, out, 0)
  return out
}

/**
 * `decryptWithAD` of exactly `ciphertext` under exactly `tag` (16 bytes): the plaintext, a buffer of its own that
 * node allocates, or `undefined` when the tag does not verify. node copies the tag (`setAuthTag`) and reads the
 * ciphertext before returning, so both may be scratch memory the caller reuses.
 */
const decrypt = (
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array
): Uint8Array | undefined => {
  const decipher = crypto.createDecipheriv("chacha20-poly1305", key, nonce, AEAD_OPTIONS)
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: ciphertext.length })
  decipher.setAuthTag(tag)
  const body = decipher.update(ciphertext)
  try {
    decipher.final()
  } catch {
    // node signals a bad tag only by throwing; the caller turns `undefined` into a typed NoiseError
    return undefined
  }
  return body
}

/** `decryptWithAD` of `sealed` = ciphertext || tag: the plaintext, or `undefined` when the tag does not verify. */
const open = (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < MAC_SIZE) return undefined
  const bodyLength = sealed.length - MAC_SIZE
  return decrypt(key, nonce, ad, sealed.subarray(0, bodyLength), sealed.subarray(bodyLength))
}

/** Raw ChaCha20-Poly1305 seal/open (empty AD), exported so benches can measure the AEAD floor the same way. */
export const aeadSeal = (key: Uint8Array, n: number, plaintext: Uint8Array): Uint8Array =>
  seal(key, nonceOf(n), EMPTY, plaintext)
export const aeadOpen = (key: Uint8Array, n: number, sealed: Uint8Array): Uint8Array | undefined =>
  open(key, nonceOf(n), EMPTY, sealed)

/**
 * BOLT 8 ECDH: SHA256 of the compressed shared point. libsecp256k1's hash callback gets the point's x and y; we
 * hash `0x02|(y&1) || x` explicitly rather than relying on the library default.
 */
const ecdh = (publicKey: Uint8Array, privateKey: Uint8Array): Uint8Array =>
  secp256k1.ecdh(
    publicKey,
    privateKey,
    {
      hashfn: (x: Uint8Array, y: Uint8Array) => {
        const compressed = new Uint8Array(33)
        compressed[0] = 0x02 | (y[31] & 1)
        compressed.set(x, 1)
        return sha256(compressed)
      }
    },
    new Uint8Array(32)
  )

/** A well-formed 33-byte compressed secp256k1 point (0x02/0x03 prefix, on the curve). */
export const isCompressedPublicKey = (key: Uint8Array): boolean =>
  key.length === 33 && (key[0] === 0x02 || key[0] === 0x03) && secp256k1.publicKeyVerify(key)

export const publicKeyOf = (privateKey: Uint8Array): PublicKey => secp256k1.publicKeyCreate(privateKey, true)

export const isPrivateKey = (key: Uint8Array): boolean => key.length === 32 && secp256k1.privateKeyVerify(key)

/** A fresh ephemeral key (BOLT 8 `generateKey()`), from the OS CSPRNG. */
export const generatePrivateKey = (): Uint8Array => {
  for (;;) {
    const key = new Uint8Array(crypto.randomBytes(32))
    if (secp256k1.privateKeyVerify(key)) return key
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Transport phase: one CipherState per direction

/**
 * One direction of the transport: key, nonce and — per BOLT 8 — that direction's own chaining key. After 1000
 * uses (500 messages: each message is a length then a body), `ck', k' = HKDF(ck, k)` and the nonce restarts at 0.
 * Keeping `ck` per direction matters: a single shared `ck` (as some implementations do) diverges from the spec as
 * soon as both directions rotate.
 */
export class CipherState {
  private key: Buffer
  private chainingKey: Buffer
  private n = 0
  private readonly nonce = Buffer.alloc(12)
  /**
   * Scratch for the transport's opens: the tag, and a length header's 2 ciphertext bytes, are copied here rather
   * than viewed (two fewer view objects per unit; node copies the tag and reads the ciphertext synchronously).
   */
  private readonly tag = new Uint8Array(MAC_SIZE)
  private readonly lengthCiphertext = new Uint8Array(2)

  constructor(key: Uint8Array, chainingKey: Uint8Array) {
    this.key = Buffer.from(key)
    this.chainingKey = Buffer.from(chainingKey)
  }

  /** Copies of key, chaining key and next nonce (tests and diagnostics; never logged). */
  snapshot(): { readonly key: Uint8Array; readonly chainingKey: Uint8Array; readonly nonce: number } {
    return { key: new Uint8Array(this.key), chainingKey: new Uint8Array(this.chainingKey), nonce: this.n }
  }

  /** Seals `plaintext` into `out` at `offset`; returns bytes written (plaintext + 16). */
  sealInto(plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    const written = sealInto(this.key, writeNonce(this.nonce, this.n), EMPTY, plaintext, out, offset)
    this.advance()
    return written
  }

  seal(plaintext: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + MAC_SIZE)
    this.sealInto(plaintext, out, 0)
    return out
  }

  /** Opens `sealed`; `undefined` on a bad tag. The nonce advances either way (the connection is dead on failure). */
  open(sealed: Uint8Array): Uint8Array | undefined {
    return sealed.length < MAC_SIZE ? this.fail() : this.openAt(sealed, 0, sealed.length - MAC_SIZE)
  }

  /**
   * Opens the `length` bytes of ciphertext and their tag at `buf[at]` (no view of them is made) into a buffer of its
   * own; `undefined` on a bad tag. The nonce advances either way.
   */
  openAt(buf: Uint8Array, at: number, length: number): Uint8Array | undefined {
    if (at < 0 || length < 0 || buf.length - at < length + MAC_SIZE) return this.fail()
    // one plain view of the ciphertext (a Buffer's `subarray` goes through its species constructor), none of the tag
    const plain = decrypt(
      this.key,
      writeNonce(this.nonce, this.n),
      EMPTY,
      new Uint8Array(buf.buffer, buf.byteOffset + at, length),
      this.tagAt(buf, at + length)
    )
    this.advance()
    return plain
  }

  /** Opens an 18-byte encrypted length header at `buf[at]`: the u16, or -1 on a bad tag (the nonce advances either way). */
  openLength(buf: Uint8Array, at = 0): number {
    if (at < 0 || buf.length - at < LENGTH_HEADER_SIZE) {
      this.advance()
      return -1
    }
    const ciphertext = this.lengthCiphertext
    ciphertext[0] = buf[at]
    ciphertext[1] = buf[at + 1]
    const plain = decrypt(this.key, writeNonce(this.nonce, this.n), EMPTY, ciphertext, this.tagAt(buf, at + 2))
    this.advance()
    return plain === undefined ? -1 : (plain[0] << 8) | plain[1]
  }

  /** The 16 tag bytes at `buf[at]`, copied into the scratch tag. */
  private tagAt(buf: Uint8Array, at: number): Uint8Array {
    const tag = this.tag
    for (let i = 0; i < MAC_SIZE; i++) tag[i] = buf[at + i]
    return tag
  }

  private fail(): undefined {
    this.advance()
    return undefined
  }

  private advance(): void {
    this.n += 1
    if (this.n === ROTATION_INTERVAL) {
      // BOLT 8 key rotation: ck', k' = HKDF(ck, k); n = 0
      const [ck, k] = hkdf(this.chainingKey, this.key)
      this.chainingKey = ck
      this.key = k
      this.n = 0
    }
  }
}

/** The outcome of a completed handshake. */
export interface NoiseSession {
  /** The remote node's static key (the initiator already knew it; the responder learned it in act three). */
  readonly remoteStatic: PublicKey
  readonly sender: CipherState
  readonly receiver: CipherState
}

/** Size on the wire of a message of `length` bytes. */
export const frameSize = (length: number): number => LENGTH_HEADER_SIZE + length + MAC_SIZE

/** Writes one encrypted frame (`lc || c`) for `message` into `out` at `offset`; returns bytes written. */
export const encryptFrameInto = (
  sender: CipherState,
  message: Uint8Array,
  out: Uint8Array,
  offset: number
): Either.Either<number, NoiseError> => {
  if (message.length > MAX_MESSAGE_SIZE) {
    return fail("LENGTH_OUT_OF_RANGE", `message of ${message.length} bytes exceeds ${MAX_MESSAGE_SIZE}`)
  }
  const length = new Uint8Array(2)
  length[0] = message.length >>> 8
  length[1] = message.length & 0xff
  const a = sender.sealInto(length, out, offset)
  const b = sender.sealInto(message, out, offset + a)
  return Either.right(a + b)
}

/** One encrypted frame for `message`: encrypted 2-byte length + MAC, then encrypted body + MAC (BOLT 8). */
export const encryptFrame = (sender: CipherState, message: Uint8Array): Either.Either<Uint8Array, NoiseError> => {
  const out = new Uint8Array(frameSize(message.length))
  return Either.map(encryptFrameInto(sender, message, out, 0), () => out)
}

const lengthBadTagError = () => new NoiseError({ code: "LENGTH_BAD_TAG", detail: "bad MAC on the encrypted length" })
const lengthTooShortError = (length: number) =>
  new NoiseError({ code: "LENGTH_OUT_OF_RANGE", detail: `frame length ${length} is shorter than a message type` })
const bodyBadTagError = () => new NoiseError({ code: "BODY_BAD_TAG", detail: "bad MAC on the message body" })
const lengthBadTag = () => Either.left(lengthBadTagError())
const lengthTooShort = (length: number) => Either.left(lengthTooShortError(length))
const bodyBadTag = () => Either.left(bodyBadTagError())
/** `next`'s "more bytes needed": one immutable value, not an allocation per call. */
const NEED_MORE: Either.Either<Uint8Array | undefined, NoiseError> = Either.right(undefined)

/** Decrypts the 18-byte length header. */
export const decryptLength = (receiver: CipherState, header: Uint8Array): Either.Either<number, NoiseError> => {
  const length = receiver.openLength(header)
  if (length < 0) return lengthBadTag()
  return length < MIN_MESSAGE_SIZE ? lengthTooShort(length) : Either.right(length)
}

/** Decrypts a body (`length` + 16 bytes). */
export const decryptBody = (receiver: CipherState, sealed: Uint8Array): Either.Either<Uint8Array, NoiseError> => {
  const plain = receiver.open(sealed)
  return plain === undefined ? bodyBadTag() : Either.right(plain)
}

/**
 * Incremental frame reader: feed it socket chunks, pull whole decrypted messages.
 *
 * Reassembly costs what was received, whatever the chunking (a 64 KB frame trickled one byte per chunk used to cost
 * ~2 GB of copying, one concatenation per chunk). A unit (the 18-byte length header, or a body + MAC) that lies
 * inside the latest chunk is decrypted in place, with no copy. Only a unit that spans chunks is assembled, in `stage`,
 * which grows by doubling up to that unit's size, so each received byte is copied a small constant number of times
 * (amortised: see `reserve`) and the stage is never larger than twice the bytes received (a claimed 65,535-byte
 * length allocates nothing until the bytes come). When `next` asks for more bytes, the partial unit is moved out of
 * the caller's chunk, so the decoder never pins a socket buffer: it holds at most one incomplete frame's bytes (plus
 * whatever was pushed and not yet pulled).
 */
export class FrameDecoder {
  /** Owned bytes of the unit in progress, `[stageStart, stageEnd)`; empty (and released) between spanning units. */
  private stage: Uint8Array = EMPTY
  private stageStart = 0
  private stageEnd = 0
  /** The latest pushed chunk, read from `pos`; its bytes follow the staged ones. */
  private chunk: Uint8Array = EMPTY
  private pos = 0
  /** Decrypted length of the frame whose body we are waiting for (the length's nonce is already spent). */
  private pendingLength: number | undefined = undefined
  private copiedBytes = 0
  /** Where `take` found the unit: `unit[unitAt, unitAt + n)`. Cleared once decrypted, so no chunk stays pinned. */
  private unit: Uint8Array = EMPTY
  private unitAt = 0

  constructor(private readonly receiver: CipherState) {}

  /** Bytes held that are not yet part of a returned message. Non-zero at EOF means the peer vanished mid-frame. */
  get buffered(): number {
    return this.stageEnd - this.stageStart + this.chunk.length - this.pos
  }

  /** True while part of a frame has been received (a length header, or the start of one). */
  get midFrame(): boolean {
    return this.pendingLength !== undefined || this.buffered > 0
  }

  /** Bytes copied for reassembly since construction: the measure that shows framing is linear in what arrived. */
  get copied(): number {
    return this.copiedBytes
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    // pushed twice without a `next` in between: the unread rest of the previous chunk joins the stage first
    if (this.pos < this.chunk.length) {
      this.stageRest(this.pendingLength === undefined ? LENGTH_HEADER_SIZE : this.pendingLength + MAC_SIZE)
    }
    this.chunk = chunk
    this.pos = 0
  }

  /** The next whole message, `undefined` when more bytes are needed, or the error that ends the connection. */
  next(): Either.Either<Uint8Array | undefined, NoiseError> {
    const out = this.nextBare()
    return out === undefined ? NEED_MORE : out instanceof NoiseError ? Either.left(out) : Either.right(out)
  }

  /**
   * `next` without the `Either` (the connection's reader loop: one object fewer per message): the message (a buffer
   * of its own), `undefined` when more bytes are needed, or the `NoiseError` that ends the connection.
   */
  nextBare(): Uint8Array | NoiseError | undefined {
    // no intermediate views or Eithers: a gossip sync runs this ~180,000 times
    if (this.pendingLength === undefined) {
      if (!this.take(LENGTH_HEADER_SIZE)) return undefined
      const length = this.receiver.openLength(this.unit, this.unitAt)
      this.unit = EMPTY
      if (length < 0) return lengthBadTagError()
      if (length < MIN_MESSAGE_SIZE) return lengthTooShortError(length)
      this.pendingLength = length
    }
    if (!this.take(this.pendingLength + MAC_SIZE)) return undefined
    const plain = this.receiver.openAt(this.unit, this.unitAt, this.pendingLength)
    this.unit = EMPTY
    this.pendingLength = undefined
    return plain === undefined ? bodyBadTagError() : plain
  }

  /**
   * Finds the next `n` bytes (in `unit` at `unitAt`), or returns false (having moved the partial unit into the
   * stage) when fewer are held. They are only valid until the next call: they are decrypted at once, into a fresh
   * buffer.
   */
  private take(n: number): boolean {
    const staged = this.stageEnd - this.stageStart
    const inChunk = this.chunk.length - this.pos
    if (staged + inChunk < n) {
      if (inChunk > 0) this.stageRest(n)
      return false
    }
    if (staged === 0) {
      this.unit = this.chunk
      this.unitAt = this.pos
      this.pos += n
    } else if (staged >= n) {
      this.unit = this.stage
      this.unitAt = this.stageStart
      this.stageStart += n
    } else {
      const from = n - staged
      this.reserve(n, n)
      this.copyIn(this.chunk.subarray(this.pos, this.pos + from))
      this.pos += from
      this.unit = this.stage
      this.unitAt = this.stageStart
      this.stageStart += n
    }
    if (this.pos === this.chunk.length) {
      this.chunk = EMPTY // consumed: do not keep the caller's buffer alive
      this.pos = 0
    }
    if (this.stageStart === this.stageEnd) {
      // released rather than kept: an idle connection holds no reassembly memory
      this.stage = EMPTY
      this.stageStart = this.stageEnd = 0
    }
    return true
  }

  /** Moves the unread rest of `chunk` into the stage; `unit` (the size of the unit in progress) caps its growth. */
  private stageRest(unit: number): void {
    const rest = this.chunk.subarray(this.pos)
    this.reserve(this.stageEnd - this.stageStart + rest.length, unit)
    this.copyIn(rest)
    this.chunk = EMPTY
    this.pos = 0
  }

  /**
   * Room for `total` bytes from `stageStart`. Compacts when the consumed prefix is at least as large as what is
   * live (so the copy is paid for by bytes already consumed), else grows geometrically: either way each byte is
   * copied O(1) times amortised.
   */
  private reserve(total: number, unit: number): void {
    const live = this.stageEnd - this.stageStart
    if (this.stageStart + total <= this.stage.length) return
    if (total <= this.stage.length && this.stageStart >= live) {
      this.stage.copyWithin(0, this.stageStart, this.stageEnd)
    } else {
      // double, up to the unit: never sized by a (peer-chosen) length beyond twice the bytes actually received
      const next = new Uint8Array(Math.max(total, Math.min(unit, Math.max(2 * total, 2 * this.stage.length, 64))))
      next.set(this.stage.subarray(this.stageStart, this.stageEnd))
      this.stage = next
    }
    this.copiedBytes += live
    this.stageStart = 0
    this.stageEnd = live
  }

  private copyIn(bytes: Uint8Array): void {
    this.stage.set(bytes, this.stageEnd)
    this.stageEnd += bytes.length
    this.copiedBytes += bytes.length
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Handshake

interface SymmetricState {
  h: Buffer
  ck: Buffer
}

/** `h = SHA-256(protocolName); ck = h; h = SHA-256(h || prologue); h = SHA-256(h || responder static key)`. */
const initialize = (responderStatic: Uint8Array): SymmetricState => {
  const h0 = sha256(PROTOCOL_NAME)
  return { ck: h0, h: sha256(sha256(h0, PROLOGUE), responderStatic) }
}

/** The initiator after sending act one, waiting for act two. */
export interface InitiatorAwaitingActTwo {
  readonly _tag: "InitiatorAwaitingActTwo"
  readonly localPrivate: Uint8Array
  readonly localPublic: PublicKey
  readonly remoteStatic: PublicKey
  readonly ephemeralPrivate: Uint8Array
  readonly h: Buffer
  readonly ck: Buffer
}

/** The responder after sending act two, waiting for act three. */
export interface ResponderAwaitingActThree {
  readonly _tag: "ResponderAwaitingActThree"
  readonly ephemeralPrivate: Uint8Array
  readonly h: Buffer
  readonly ck: Buffer
  readonly tempK2: Buffer
}

const sessionKeys = (ck: Buffer): readonly [Buffer, Buffer, Buffer] => {
  // BOLT 8: sk, rk = HKDF(ck, zero) for the initiator (swapped for the responder); both directions start from ck
  const [first, second] = hkdf(ck, EMPTY)
  return [first, second, ck]
}

/**
 * Initiator act one. `ephemeralPrivate` is injectable only so the BOLT 8 vectors can be replayed; real
 * connections use `generatePrivateKey()`.
 */
export const initiatorActOne = (
  localPrivate: Uint8Array,
  remoteStatic: PublicKey,
  ephemeralPrivate: Uint8Array = generatePrivateKey()
): { readonly actOne: Uint8Array; readonly state: InitiatorAwaitingActTwo } => {
  if (!isPrivateKey(localPrivate)) throw new RangeError("local static key is not a valid secp256k1 private key")
  if (!isCompressedPublicKey(remoteStatic)) throw new RangeError("remote static key is not a compressed point")
  const s = initialize(remoteStatic)
  const ePub = publicKeyOf(ephemeralPrivate)
  const h1 = sha256(s.h, ePub)
  const [ck, tempK1] = hkdf(s.ck, ecdh(remoteStatic, ephemeralPrivate))
  const c = seal(tempK1, nonceOf(0), h1, EMPTY)
  const h2 = sha256(h1, c)
  const actOne = new Uint8Array(ACT_ONE_SIZE)
  actOne[0] = 0
  actOne.set(ePub, 1)
  actOne.set(c, 34)
  return {
    actOne,
    state: {
      _tag: "InitiatorAwaitingActTwo",
      localPrivate,
      localPublic: publicKeyOf(localPrivate),
      remoteStatic,
      ephemeralPrivate,
      h: h2,
      ck
    }
  }
}

/** Initiator: read act two, produce act three and the transport session. */
export const initiatorActTwo = (
  state: InitiatorAwaitingActTwo,
  actTwo: Uint8Array
): Either.Either<{ readonly actThree: Uint8Array; readonly session: NoiseSession }, NoiseError> => {
  if (actTwo.length !== ACT_TWO_SIZE) return fail("ACT2_READ_FAILED", `act two is ${actTwo.length} bytes, not 50`)
  if (actTwo[0] !== 0) return fail("ACT2_BAD_VERSION", `act two version ${actTwo[0]}`)
  const re = actTwo.subarray(1, 34)
  if (!isCompressedPublicKey(re)) return fail("ACT2_BAD_PUBKEY", "act two ephemeral key is not a valid point")
  const c = actTwo.subarray(34, 50)
  const h1 = sha256(state.h, re)
  const [ck1, tempK2] = hkdf(state.ck, ecdh(re, state.ephemeralPrivate))
  if (open(tempK2, nonceOf(0), h1, c) === undefined) return fail("ACT2_BAD_TAG", "act two MAC does not verify")
  const h2 = sha256(h1, c)
  // act three
  const c3 = seal(tempK2, nonceOf(1), h2, state.localPublic)
  const h3 = sha256(h2, c3)
  const [ck2, tempK3] = hkdf(ck1, ecdh(re, state.localPrivate))
  const t = seal(tempK3, nonceOf(0), h3, EMPTY)
  const actThree = new Uint8Array(ACT_THREE_SIZE)
  actThree[0] = 0
  actThree.set(c3, 1)
  actThree.set(t, 50)
  const [sk, rk, ck] = sessionKeys(ck2)
  return Either.right({
    actThree,
    session: { remoteStatic: state.remoteStatic, sender: new CipherState(sk, ck), receiver: new CipherState(rk, ck) }
  })
}

/** Responder: read act one, produce act two. */
export const responderActOne = (
  localPrivate: Uint8Array,
  actOne: Uint8Array,
  ephemeralPrivate: Uint8Array = generatePrivateKey()
): Either.Either<{ readonly actTwo: Uint8Array; readonly state: ResponderAwaitingActThree }, NoiseError> => {
  if (!isPrivateKey(localPrivate)) throw new RangeError("local static key is not a valid secp256k1 private key")
  if (actOne.length !== ACT_ONE_SIZE) return fail("ACT1_READ_FAILED", `act one is ${actOne.length} bytes, not 50`)
  if (actOne[0] !== 0) return fail("ACT1_BAD_VERSION", `act one version ${actOne[0]}`)
  const re = actOne.subarray(1, 34)
  if (!isCompressedPublicKey(re)) return fail("ACT1_BAD_PUBKEY", "act one ephemeral key is not a valid point")
  const c = actOne.subarray(34, 50)
  const s = initialize(publicKeyOf(localPrivate))
  const h1 = sha256(s.h, re)
  const [ck1, tempK1] = hkdf(s.ck, ecdh(re, localPrivate))
  if (open(tempK1, nonceOf(0), h1, c) === undefined) return fail("ACT1_BAD_TAG", "act one MAC does not verify")
  const h2 = sha256(h1, c)
  // act two
  const ePub = publicKeyOf(ephemeralPrivate)
  const h3 = sha256(h2, ePub)
  const [ck2, tempK2] = hkdf(ck1, ecdh(re, ephemeralPrivate))
  const c2 = seal(tempK2, nonceOf(0), h3, EMPTY)
  const h4 = sha256(h3, c2)
  const actTwo = new Uint8Array(ACT_TWO_SIZE)
  actTwo[0] = 0
  actTwo.set(ePub, 1)
  actTwo.set(c2, 34)
  return Either.right({
    actTwo,
    state: { _tag: "ResponderAwaitingActThree", ephemeralPrivate, h: h4, ck: ck2, tempK2 }
  })
}

/** Responder: read act three, learn the initiator's static key, produce the transport session. */
export const responderActThree = (
  state: ResponderAwaitingActThree,
  actThree: Uint8Array
): Either.Either<NoiseSession, NoiseError> => {
  if (actThree.length !== ACT_THREE_SIZE) {
    return fail("ACT3_READ_FAILED", `act three is ${actThree.length} bytes, not 66`)
  }
  if (actThree[0] !== 0) return fail("ACT3_BAD_VERSION", `act three version ${actThree[0]}`)
  const c = actThree.subarray(1, 50)
  const t = actThree.subarray(50, 66)
  const rs = open(state.tempK2, nonceOf(1), state.h, c)
  if (rs === undefined) return fail("ACT3_BAD_CIPHERTEXT", "act three static key ciphertext does not verify")
  if (!isCompressedPublicKey(rs)) return fail("ACT3_BAD_PUBKEY", "act three static key is not a valid point")
  const h1 = sha256(state.h, c)
  const [ck1, tempK3] = hkdf(state.ck, ecdh(rs, state.ephemeralPrivate))
  if (open(tempK3, nonceOf(0), h1, t) === undefined) return fail("ACT3_BAD_TAG", "act three MAC does not verify")
  const [rk, sk, ck] = sessionKeys(ck1)
  return Either.right({
    remoteStatic: new Uint8Array(rs),
    sender: new CipherState(sk, ck),
    receiver: new CipherState(rk, ck)
  })
}
