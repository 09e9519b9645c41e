import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as crypto from "node:crypto"
import { ChaChaPolyKey } from "../src/domain/ChaCha20Poly1305.js"
import { fromHex, toHex } from "../src/domain/Hex.js"

const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
const words = (nonce: Uint8Array) => [le32(nonce, 0), le32(nonce, 4), le32(nonce, 8)] as const

/** node's ChaCha20-Poly1305 (OpenSSL): the reference the TypeScript one must equal byte for byte. */
const nodeSeal = (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })
  if (ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length })
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]))
}

const seal = (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const out = new Uint8Array(plaintext.length + 16)
  const [n0, n1, n2] = words(nonce)
  expect(new ChaChaPolyKey(key).sealInto(n0, n1, n2, ad, plaintext, out, 0)).toBe(out.length)
  return out
}

const open = (key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined => {
  const out = new Uint8Array(sealed.length - 16)
  const [n0, n1, n2] = words(nonce)
  return new ChaChaPolyKey(key).openInto(n0, n1, n2, ad, sealed, 0, out.length, out, 0) ? out : undefined
}

describe("ChaCha20-Poly1305 (TypeScript)", () => {
  it("RFC 8439 §2.8.2: the AEAD test vector", () => {
    const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    const nonce = fromHex("070000004041424344454647")
    const ad = fromHex("50515253c0c1c2c3c4c5c6c7")
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
    )
    const expected =
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a" +
      "9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691"
    expect(toHex(seal(key, nonce, ad, plaintext))).toBe(expected)
    expect(toHex(nodeSeal(key, nonce, ad, plaintext))).toBe(expected)
    expect(open(key, nonce, ad, fromHex(expected))).toEqual(plaintext)
  })

  it("equals node's AEAD for any key, nonce, AD and plaintext length, and opens what it seals", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 1100 }),
        (key, nonce, ad, plaintext) => {
          const sealed = seal(key, nonce, ad, plaintext)
          expect(toHex(sealed)).toBe(toHex(nodeSeal(key, nonce, ad, plaintext)))
          expect(open(key, nonce, ad, sealed)).toEqual(plaintext)
        }
      ),
      { seed: 8439, numRuns: 400 }
    )
  })

  it("refuses any single flipped bit (ciphertext, tag or AD) and writes nothing then", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.boolean(),
        (key, plaintext, at, inAd) => {
          const nonce = new Uint8Array(12)
          const ad = new Uint8Array([1, 2, 3])
          const sealed = seal(key, nonce, ad, plaintext)
          const badAd = new Uint8Array(ad)
          const badSealed = new Uint8Array(sealed)
          if (inAd) badAd[at % ad.length] ^= 1 << (at % 8)
          else badSealed[at % sealed.length] ^= 1 << (at % 8)
          const out = new Uint8Array(plaintext.length).fill(0xaa)
          const [n0, n1, n2] = words(nonce)
          expect(new ChaChaPolyKey(key).openInto(n0, n1, n2, badAd, badSealed, 0, plaintext.length, out, 0)).toBe(false)
          expect(out.every((b) => b === 0xaa)).toBe(true)
        }
      ),
      { seed: 1305, numRuns: 300 }
    )
  })

  it("reads and writes at offsets inside larger buffers, and rekeys", () => {
    const key1 = new Uint8Array(32).fill(1)
    const key2 = new Uint8Array(32).fill(2)
    const nonce = new Uint8Array(12)
    const plaintext = new Uint8Array(100).map((_, i) => i)
    const k = new ChaChaPolyKey(key1)
    const out = new Uint8Array(7 + 116 + 5)
    k.sealInto(0, 0, 0, new Uint8Array(0), plaintext, out, 7)
    expect(toHex(out.subarray(7, 123))).toBe(toHex(nodeSeal(key1, nonce, new Uint8Array(0), plaintext)))
    const back = new Uint8Array(103)
    expect(k.openInto(0, 0, 0, new Uint8Array(0), out, 7, 100, back, 3)).toBe(true)
    expect(back.subarray(3)).toEqual(plaintext)
    k.rekey(key2)
    k.sealInto(0, 0, 0, new Uint8Array(0), plaintext, out, 0)
    expect(toHex(out.subarray(0, 116))).toBe(toHex(nodeSeal(key2, nonce, new Uint8Array(0), plaintext)))
  })
})

describe("Poly1305 (TypeScript, 22-bit limbs in doubles)", () => {
  const P = (1n << 130n) - 5n
  const le = (b: Uint8Array): bigint => {
    let v = 0n
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i])
    return v
  }
  /** RFC 8439 §2.5.1 in BigInt arithmetic, over the message zero-padded to whole blocks (each with its 2^128). */
  const reference = (key: Uint8Array, message: Uint8Array): string => {
    const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn
    const s = le(key.subarray(16, 32))
    let acc = 0n
    for (let i = 0; i < message.length; i += 16) {
      const block = new Uint8Array(16)
      block.set(message.subarray(i, i + 16))
      acc = ((acc + le(block) + (1n << 128n)) * r) % P
    }
    const tag = (acc + s) & ((1n << 128n) - 1n)
    return tag.toString(16).padStart(32, "0").match(/../g)!.reverse().join("")
  }
  const tagOf = (key: Uint8Array, message: Uint8Array) =>
    toHex(new ChaChaPolyKey(new Uint8Array(32)).poly1305Padded(key, message))
  const key = (r: string, s: string) => fromHex(r.padEnd(32, "0") + s.padEnd(32, "0"))
  const ff = (n: number) => "ff".repeat(n)

  it("RFC 8439 §2.5.2 and the appendix A.3 edge cases (h reaching p, carries through every limb)", () => {
    const rfc = fromHex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    const text = new TextEncoder().encode("Cryptographic Forum Research Gro")
    expect(tagOf(rfc, text)).toBe(reference(rfc, text))
    const cases: ReadonlyArray<readonly [Uint8Array, string]> = [
      [key("02", ""), ff(16)],
      [key("02", ff(16)), "02"],
      [key("01", ""), ff(16) + "f0" + ff(15) + "11"],
      [key("01", ""), ff(16) + "fb" + "fe".repeat(15) + "01".repeat(16)],
      [key("02", ""), "fd" + ff(15)],
      [key(ff(16), ff(16)), ff(64)],
      [key("0f" + ff(15), ff(16)), ff(48)]
    ]
    for (const [k, m] of cases) expect(tagOf(k, fromHex(m))).toBe(reference(k, fromHex(m)))
    // A.3 #5: r = 2, s = 0, 2^128 + (2^128 - 1) doubled reduces to exactly 3
    expect(tagOf(key("02", ""), fromHex(ff(16)))).toBe("03" + "00".repeat(15))
    // r = 1: two all-ones blocks sum to 2^130 - 2, in [p, 2^130): only the final subtraction of p leaves 3
    expect(tagOf(key("01", ""), fromHex(ff(32)))).toBe("03" + "00".repeat(15))
  })

  it("equals the BigInt reference for any key and message", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (k, m) => {
        expect(tagOf(k, m)).toBe(reference(k, m))
      }),
      { seed: 130, numRuns: 500 }
    )
  })
})
