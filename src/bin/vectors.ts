/**
 * `lnsync vectors`: a codec check over the shared BOLT vectors. Decodes the 44 real signed
 * gossip messages and the BOLT 7 extended-queries vectors, checks byte-identical re-encoding and signatures, and
 * prints what each message is. Exits non-zero if anything fails to decode, re-encode or verify.
 */
// the modules, not @effect/platform's index: that loads the whole HTTP API with its UI bundles (issue 18)
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Console, Data, Effect, Either } from "effect"
import { fileURLToPath } from "node:url"
import * as Chain from "../domain/Chain.js"
import { decodeMessage, encodeMessage } from "../domain/Codec.js"
import { fromHex, toHex } from "../domain/Hex.js"
import type { ChannelAnnouncement, Message } from "../domain/Messages.js"
import * as Scid from "../domain/ShortChannelId.js"
import * as Sig from "../domain/Signatures.js"

class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly reason: string }> {}

interface Row {
  readonly source: string
  readonly type: string
  readonly chain: string
  readonly scid: string
  readonly node: string
  readonly timestamp: string
  readonly sig: string
  readonly roundTrip: boolean
}

/** The BOLT 7 vectors use regtest's genesis hash in display (byte-reversed) order; say so rather than "unknown". */
const chainOf = (hash: Uint8Array): string => {
  const name = Chain.chainName(hash)
  if (name !== undefined) return name
  const reversed = Chain.chainName(hash.slice().reverse())
  return reversed === undefined ? Chain.describe(hash) : `${reversed}(rev)`
}

const short = (b: Uint8Array) => `${toHex(b).slice(0, 10)}…`
const when = (t: number) => new Date(t * 1000).toISOString().slice(0, 10)

const describeMessage = (m: Message, signer: (scid: bigint, direction: number) => Uint8Array | undefined) => {
  switch (m._tag) {
    case "ChannelAnnouncement": {
      const check = Sig.verifyChannelAnnouncement(m)
      return {
        chain: chainOf(m.chainHash),
        scid: Scid.format(m.shortChannelId),
        node: `${short(m.nodeId1)} ${short(m.nodeId2)}`,
        timestamp: "",
        sig: check.ok ? "ok ×4" : `FAIL ${check.failed.join(",")}`
      }
    }
    case "NodeAnnouncement":
      return {
        chain: "",
        scid: "",
        node: short(m.nodeId),
        timestamp: when(m.timestamp),
        sig: Sig.verifyNodeAnnouncement(m) ? "ok" : "FAIL"
      }
    case "ChannelUpdate": {
      const key = signer(m.shortChannelId, m.channelFlags & 1)
      return {
        chain: chainOf(m.chainHash),
        scid: `${Scid.format(m.shortChannelId)}/${m.channelFlags & 1}`,
        node: key === undefined ? "?" : short(key),
        timestamp: when(m.timestamp),
        sig: key === undefined ? "no signer" : Sig.verifyChannelUpdate(m, key) ? "ok" : "FAIL"
      }
    }
    case "QueryChannelRange":
      return {
        chain: chainOf(m.chainHash),
        scid: `blocks ${m.firstBlocknum}+${m.numberOfBlocks}`,
        node: "",
        timestamp: "",
        sig: ""
      }
    case "ReplyChannelRange":
    case "QueryShortChannelIds": {
      const ids = m.shortIds.ids
      const extras = m._tag === "ReplyChannelRange"
        ? [m.timestamps ? "timestamps" : "", m.checksums ? "checksums" : ""].filter((s) => s !== "").join("+")
        : m.queryFlags
        ? "flags"
        : ""
      return {
        chain: chainOf(m.chainHash),
        scid: `${ids.length} ids ${m.shortIds.encoding === 1 ? "zlib" : "plain"}${extras ? ` +${extras}` : ""}`,
        node: "",
        timestamp: "",
        sig: ""
      }
    }
    default:
      return { chain: "", scid: "", node: "", timestamp: "", sig: "" }
  }
}

export const vectorsProgram = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  // the vectors kept in the repository (test/vectors); the first such folder above this module, src or dist
  let root = path.dirname(fileURLToPath(import.meta.url))
  while (!(yield* fs.exists(path.join(root, "test", "vectors"))) && path.dirname(root) !== root) {
    root = path.dirname(root)
  }
  const vectors = path.join(root, "test", "vectors")

  const gossip = (yield* fs.readFileString(path.join(vectors, "real-gossip", "messages.jsonl")))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { hex: string; signer?: string; source: { repo: string } })
  const queries = JSON.parse(yield* fs.readFileString(path.join(vectors, "bolt07-extended-queries.json"))) as Array<
    { hex: string }
  >

  const inputs = [
    ...gossip.map((g) => ({ hex: g.hex, signer: g.signer, source: g.source.repo.split("/")[1] ?? g.source.repo })),
    ...queries.map((q) => ({ hex: q.hex, signer: undefined, source: "bolts" }))
  ]

  const decoded: Array<{ input: (typeof inputs)[number]; message: Message }> = []
  for (const input of inputs) {
    const r = decodeMessage(fromHex(input.hex))
    if (Either.isLeft(r)) {
      return yield* new DemoFailed({ reason: `decode failed: ${r.left.field} at ${r.left.offset}: ${r.left.reason}` })
    }
    decoded.push({ input, message: r.right })
  }

  // BOLT 7: an update is signed by node_id_1 (direction 0) or node_id_2 (1) of its channel's announcement
  const announcements = new Map<bigint, ChannelAnnouncement>()
  for (const { message } of decoded) {
    if (message._tag === "ChannelAnnouncement") announcements.set(message.shortChannelId, message)
  }

  const rows: Array<Row> = decoded.map(({ input, message }) => {
    const signer = (scid: bigint, direction: number) => {
      const ann = announcements.get(scid)
      if (ann !== undefined) return direction ? ann.nodeId2 : ann.nodeId1
      return input.signer === undefined ? undefined : fromHex(input.signer)
    }
    return {
      source: input.source,
      type: message._tag,
      ...describeMessage(message, signer),
      roundTrip: toHex(encodeMessage(message)) === input.hex
    }
  })

  const header = ["#", "type", "chain", "scid / content", "node id", "timestamp", "sig", "re-enc", "source"]
  const table = rows.map((
    r,
    i
  ) => [String(i), r.type, r.chain, r.scid, r.node, r.timestamp, r.sig, r.roundTrip ? "=" : "DIFF", r.source])
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c].length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()
  yield* Console.log(line(header))
  for (const row of table) yield* Console.log(line(row))

  const signed = rows.filter((r) => r.sig !== "")
  const sigOk = signed.filter((r) => r.sig.startsWith("ok")).length
  const identical = rows.filter((r) => r.roundTrip).length
  const byType = new Map<string, number>()
  for (const r of rows) byType.set(r.type, (byType.get(r.type) ?? 0) + 1)
  yield* Console.log("")
  yield* Console.log(
    `codec demo: ${rows.length} messages decoded (${[...byType].map(([t, n]) => `${n} ${t}`).join(", ")}); ` +
      `${identical}/${rows.length} re-encoded byte-identically; ${sigOk}/${signed.length} gossip signatures verified`
  )
  if (identical !== rows.length || sigOk !== signed.length) {
    return yield* new DemoFailed({ reason: "some messages did not round-trip or verify" })
  }
})
