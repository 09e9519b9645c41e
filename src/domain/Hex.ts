/** Hex helpers shared by the codec, tests and the CLI. */
/** A Buffer (what decoded fields are in production) is read as it is; any other Uint8Array through a Buffer view. */
export const toHex = (bytes: Uint8Array): string =>
  Buffer.isBuffer(bytes)
    ? bytes.toString("hex")
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

export const fromHex = (hex: string): Uint8Array => {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new RangeError(`not a hex string: ${hex.slice(0, 32)}`)
  }
  return new Uint8Array(Buffer.from(hex, "hex"))
}
