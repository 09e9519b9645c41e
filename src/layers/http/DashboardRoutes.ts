/**
 * The dashboard (issue 16) at `/`: a static page and its script from `./dashboard/` (copied beside the compiled
 * module by `npm run build`), which reads the JSON API from the browser: `/api/v1/stats` (counts, peers),
 * `/api/v1/history` (the plot), `/api/v1/distributions` (the histograms), `/api/v1/nodes?alias=` (search).
 *
 * Raw routes beside the JSON API (`HttpApiBuilder.Router`, as the OpenAPI document is mounted): HTML is not a
 * schema'd JSON value. Everything the page loads comes from this server: the Content-Security-Policy says so, and the
 * page works without a network.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import type { Layer } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

/** The page's files and how they are served. */
export const ASSETS = [
  { path: "/", file: "index.html", contentType: "text/html; charset=utf-8" },
  { path: "/dashboard.js", file: "dashboard.js", contentType: "text/javascript; charset=utf-8" },
  { path: "/dashboard.css", file: "dashboard.css", contentType: "text/css; charset=utf-8" }
] as const

const HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache"
}

/** An asset's text, read once when the server starts; None when the build did not copy it. */
const load = (file: string) =>
  Effect.option(
    Effect.try(() => fs.readFileSync(fileURLToPath(new URL(`./dashboard/${file}`, import.meta.url)), "utf8"))
  )

export const layer: Layer.Layer<never> = HttpApiBuilder.Router.use((router) =>
  Effect.forEach(ASSETS, (asset) =>
    Effect.flatMap(load(asset.file), (body) =>
      router.get(
        asset.path,
        Option.match(body, {
          onNone: () =>
            Effect.succeed(
              HttpServerResponse.text(
                `dashboard asset ${asset.file} is missing: was the package built with npm run build?\n`,
                {
                  status: 500
                }
              )
            ),
          onSome: (text) =>
            Effect.succeed(HttpServerResponse.text(text, { contentType: asset.contentType, headers: HEADERS }))
        })
      )), { discard: true })
)
