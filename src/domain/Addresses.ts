/**
 * BOLT 7 `node_announcement` address descriptors: 1 IPv4, 2 IPv6, 3 Tor v2 (deprecated, still parsed), 4 Tor v3,
 * 5 DNS hostname. At an unknown type the reader stops (its length is unknowable) and keeps the rest as `Unknown`.
 * The announcement also keeps the raw field, so re-encoding is exact whatever we parsed.
 */
import { Data, Either } from "effect"
import type { NodeAddress } from "./Messages.js"

export class AddressError extends Data.TaggedError("AddressError")<{
  /** Offset within the `addresses` field. */
  readonly offset: number
  readonly reason: string
}> {}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

const BASE32_CODES = Uint8Array.from(BASE32, (c) => c.charCodeAt(0))

/** RFC 4648 base32, lower case, no padding; one string allocation (node announcements carry many onions). */
const base32 = (bytes: Uint8Array): string => {
  const out = new Uint8Array(Math.ceil((bytes.length * 8) / 5))
  let o = 0
  let acc = 0
  let n = 0
  for (let i = 0; i < bytes.length; i++) {
    acc = (acc << 8) | bytes[i]
    n += 8
    while (n >= 5) {
      out[o++] = BASE32_CODES[(acc >>> (n - 5)) & 31]
      n -= 5
    }
    acc &= (1 << n) - 1
  }
  if (n > 0) out[o++] = BASE32_CODES[(acc << (5 - n)) & 31]
  return Buffer.from(out.buffer, 0, o).toString("latin1")
}

const unbase32 = (text: string, length: number): Uint8Array | undefined => {
  const out = new Uint8Array(length)
  let acc = 0
  let n = 0
  let i = 0
  for (const ch of text) {
    const v = BASE32.indexOf(ch)
    if (v < 0) return undefined
    acc = ((acc << 5) | v) & 0xffff
    n += 5
    if (n >= 8) {
      if (i >= length) return undefined
      out[i++] = (acc >>> (n - 8)) & 0xff
      n -= 8
    }
  }
  return i === length ? out : undefined
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (2+) of zero groups as `::`. */
export const formatIPv6 = (bytes: Uint8Array): string => {
  const groups: Array<number> = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1])
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (gs: ReadonlyArray<number>) => gs.map((g) => g.toString(16)).join(":")
  if (bestStart < 0) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`
}

export const parseIPv6 = (text: string): Uint8Array | undefined => {
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const parse = (s: string): Array<number> | undefined => {
    if (s === "") return []
    const out: Array<number> = []
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = parse(halves[0])
  const tail = halves.length === 2 ? parse(halves[1]) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

const parseIPv4 = (text: string): Uint8Array | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined
  return Uint8Array.from(parts.map(Number))
}

const port = (bytes: Uint8Array, at: number): number => (bytes[at] << 8) | bytes[at + 1]

/** Descriptor sizes after the type byte, for the fixed-size types. */
const FIXED: Readonly<Record<number, number>> = { 1: 6, 2: 18, 3: 12, 4: 37 }

export const decodeAddresses = (bytes: Uint8Array): Either.Either<ReadonlyArray<NodeAddress>, AddressError> => {
  const out: Array<NodeAddress> = []
  let pos = 0
  while (pos < bytes.length) {
    const type = bytes[pos]
    const body = pos + 1
    const fixed = FIXED[type]
    if (type === 5) {
      if (body >= bytes.length) {
        return Either.left(new AddressError({ offset: body, reason: "DNS hostname length missing" }))
      }
      const len = bytes[body]
      const end = body + 1 + len + 2
      if (end > bytes.length) return Either.left(new AddressError({ offset: body, reason: "DNS hostname truncated" }))
      const hostname = Buffer.from(bytes.buffer, bytes.byteOffset + body + 1, len).toString("latin1")
      out.push({ _tag: "DnsHostname", hostname, port: port(bytes, body + 1 + len) })
      pos = end
      continue
    }
    if (fixed === undefined) {
      // BOLT 7: SHOULD ignore the first address descriptor that does not match a known type (and everything after)
      out.push({ _tag: "Unknown", type, data: bytes.subarray(body) })
      break
    }
    const end = body + fixed
    if (end > bytes.length) {
      // BOLT 7: addrlen insufficient to hold the descriptors of known types -> malformed
      return Either.left(new AddressError({ offset: pos, reason: `address type ${type} truncated` }))
    }
    switch (type) {
      case 1:
        out.push({
          _tag: "IPv4",
          address: `${bytes[body]}.${bytes[body + 1]}.${bytes[body + 2]}.${bytes[body + 3]}`,
          port: port(bytes, body + 4)
        })
        break
      case 2:
        out.push({ _tag: "IPv6", address: formatIPv6(bytes.subarray(body, body + 16)), port: port(bytes, body + 16) })
        break
      case 3:
        out.push({ _tag: "TorV2", onion: bytes.subarray(body, body + 10), port: port(bytes, body + 10) })
        break
      default:
        out.push({
          _tag: "TorV3",
          onion: `${base32(bytes.subarray(body, body + 35))}.onion`,
          port: port(bytes, body + 35)
        })
    }
    pos = end
  }
  return Either.right(out)
}

/** What `scanAddresses` learns without building the descriptors. */
export interface AddressScan {
  /** DNS hostname descriptors (BOLT 7 allows one). */
  readonly dnsHostnames: number
  /** Every DNS hostname is ASCII (BOLT 7: "MUST be ASCII"). */
  readonly asciiHostnames: boolean
}

/**
 * Checks the `addresses` field the way `decodeAddresses` reads it (known descriptors complete; the first unknown
 * type ends it) without allocating a descriptor per address: `undefined` when malformed. The validation pipeline
 * runs this on every node announcement it receives.
 */
export const scanAddresses = (bytes: Uint8Array): AddressScan | undefined => {
  let dnsHostnames = 0
  let asciiHostnames = true
  let pos = 0
  while (pos < bytes.length) {
    const type = bytes[pos]
    const body = pos + 1
    if (type === 5) {
      if (body >= bytes.length) return undefined
      const len = bytes[body]
      const end = body + 1 + len + 2
      if (end > bytes.length) return undefined
      dnsHostnames += 1
      for (let i = body + 1; i < body + 1 + len; i++) if (bytes[i] > 0x7f) asciiHostnames = false
      pos = end
      continue
    }
    const fixed = FIXED[type]
    if (fixed === undefined) break // BOLT 7: an unknown type ends what can be read
    if (body + fixed > bytes.length) return undefined
    pos = body + fixed
  }
  return { dnsHostnames, asciiHostnames }
}

/**
 * The `addresses` field for `addresses` (for announcements we build and sign). Throws RangeError on a value that
 * has no wire form (bad IP text, onion not 35 bytes, hostname over 255 bytes, port out of range).
 */
export const encodeAddresses = (addresses: ReadonlyArray<NodeAddress>): Uint8Array => {
  const parts: Array<Uint8Array> = []
  const withPort = (type: number, body: Uint8Array, p: number): Uint8Array => {
    if (!Number.isInteger(p) || p < 0 || p > 0xffff) throw new RangeError(`port out of range: ${p}`)
    const out = new Uint8Array(1 + body.length + 2)
    out[0] = type
    out.set(body, 1)
    out[out.length - 2] = p >> 8
    out[out.length - 1] = p & 0xff
    return out
  }
  for (const a of addresses) {
    switch (a._tag) {
      case "IPv4": {
        const ip = parseIPv4(a.address)
        if (ip === undefined) throw new RangeError(`not an IPv4 address: ${a.address}`)
        parts.push(withPort(1, ip, a.port))
        break
      }
      case "IPv6": {
        const ip = parseIPv6(a.address)
        if (ip === undefined) throw new RangeError(`not an IPv6 address: ${a.address}`)
        parts.push(withPort(2, ip, a.port))
        break
      }
      case "TorV2":
        if (a.onion.length !== 10) throw new RangeError("Tor v2 onion must be 10 bytes")
        parts.push(withPort(3, a.onion, a.port))
        break
      case "TorV3": {
        const key = a.onion.endsWith(".onion") ? unbase32(a.onion.slice(0, -6), 35) : undefined
        if (key === undefined) throw new RangeError(`not a Tor v3 onion: ${a.onion}`)
        parts.push(withPort(4, key, a.port))
        break
      }
      case "DnsHostname": {
        // one byte per character: latin1 keeps any received byte string round-trippable
        if (a.hostname.length > 255 || /[\u0100-\uffff]/.test(a.hostname)) {
          throw new RangeError(`bad hostname: ${a.hostname}`)
        }
        const name = Buffer.from(a.hostname, "latin1")
        const body = new Uint8Array(1 + name.length)
        body[0] = name.length
        body.set(name, 1)
        parts.push(withPort(5, body, a.port))
        break
      }
      case "Unknown": {
        const out = new Uint8Array(1 + a.data.length)
        out[0] = a.type
        out.set(a.data, 1)
        parts.push(out)
        break
      }
    }
  }
  return Uint8Array.from(Buffer.concat(parts))
}
