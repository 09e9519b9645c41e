/**
 * Rapid Gossip Sync over HTTP, at the paths LDK's server uses and LDK wallets fetch: `GET /snapshot/<timestamp>`
 * (v1) and `GET /snapshot/v2/<timestamp>`, where `<timestamp>` is the client's last `latest_seen_timestamp` (0 for
 * its first sync). Bytes as `RapidGossipSync.snapshotFor` builds them (once per 3-hour slot); a timestamp off the
 * 3-hour grid is a 404, as on LDK's server, whose snapshots exist only there.
 *
 * Raw routes beside the JSON API (`HttpApiBuilder.Router`, as the OpenAPI document is mounted): the body is binary,
 * not a schema'd JSON value, so it stays out of `/openapi.json`.
 */
import { HttpApiBuilder, HttpRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Layer } from "effect"
import type { RapidGossipSyncService, SnapshotFormat } from "../../services/RapidGossipSync.js"

const text = (status: number, body: string) => HttpServerResponse.text(`${body}\n`, { status })

/** The snapshot routes over `snapshots` (a plain service value, so the server's layer gains no requirement). */
export const routes = (snapshots: RapidGossipSyncService): Layer.Layer<never> =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function* () {
      const handler = (format: SnapshotFormat) =>
        Effect.gen(function* () {
          const raw = (yield* HttpRouter.params).timestamp ?? ""
          if (!/^[0-9]{1,10}$/.test(raw)) return text(404, `no snapshot at ${raw}: the path ends in unix seconds`)
          return yield* snapshots.snapshotFor(Number(raw), format).pipe(
            Effect.map((s) => HttpServerResponse.uint8Array(s.bytes, { contentType: "application/octet-stream" })),
            Effect.catchTags({
              SnapshotTimestampNotAligned: (e) => Effect.succeed(text(404, e.message)),
              GraphStoreError: (e) =>
                Effect.as(
                  Effect.logWarning(`rgs: snapshot ${format}/${raw} failed: ${e.operation}`),
                  text(500, "the graph database failed; try again")
                )
            })
          )
        })
      yield* router.get("/snapshot/v2/:timestamp", handler("v2"))
      yield* router.get("/snapshot/:timestamp", handler("v1"))
    })
  )

/** No routes: for a server without snapshots. */
export const none: Layer.Layer<never> = Layer.empty
