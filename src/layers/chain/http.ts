/**
 * What the chain backends share about HTTP: one request with a timeout, its failures sorted into the ChainSource
 * errors (unreachable, a 5xx or a timeout is `ChainSourceUnavailable`, retried; anything else unreadable is
 * `ChainSourceBadResponse`), and 404 kept apart (Esplora's "no such block/tx": a fact, not a failure).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Duration, Effect } from "effect"
import type { ChainBackend } from "../../services/ChainSource.js"
import { ChainSourceBadResponse, ChainSourceUnavailable } from "../../services/ChainSource.js"

export type ChainHttpError = ChainSourceUnavailable | ChainSourceBadResponse

export interface HttpAnswer {
  readonly status: number
  readonly text: string
}

/** Sends `request`; a status of 500 and above, a transport error or `timeout` elapsing is ChainSourceUnavailable. */
export const send = (
  client: HttpClient.HttpClient,
  operation: string,
  request: HttpClientRequest.HttpClientRequest,
  timeout: Duration.DurationInput
): Effect.Effect<HttpAnswer, ChainHttpError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const response = yield* client.execute(request)
      const text = yield* response.text
      return { status: response.status, text }
    })
  ).pipe(
    Effect.timeoutFail({
      duration: Duration.decode(timeout),
      onTimeout: () => new ChainSourceUnavailable({ operation, cause: `no answer within ${Duration.format(timeout)}` })
    }),
    Effect.catchTags({
      RequestError: (cause) => Effect.fail(new ChainSourceUnavailable({ operation, cause: cause.message })),
      ResponseError: (cause) => Effect.fail(new ChainSourceUnavailable({ operation, cause: cause.message }))
    }),
    Effect.flatMap((answer) =>
      answer.status >= 500
        ? Effect.fail(
          new ChainSourceUnavailable({ operation, cause: `HTTP ${answer.status}: ${answer.text.slice(0, 200)}` })
        )
        : Effect.succeed(answer)
    )
  )

/** JSON text, or ChainSourceBadResponse. */
export const parseJson = (operation: string, text: string): Effect.Effect<unknown, ChainSourceBadResponse> =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: () => new ChainSourceBadResponse({ operation, detail: `not JSON: ${text.slice(0, 200)}` })
  })

export const bad = (operation: string, detail: string) => new ChainSourceBadResponse({ operation, detail })

/**
 * A backend as its module builds it: the ChainBackend plus the hash of block 0 (hex as bitcoind and Esplora show
 * it), which only the startup probe asks (`ChainSourceConfig.probe`: is the source on the node's chain?), so the
 * service interface stays as it is.
 */
export interface ProbedBackend extends ChainBackend {
  readonly genesisHash: Effect.Effect<string, ChainHttpError>
}

/** `v` as a block hash (64 hex digits, lower case), or ChainSourceBadResponse. */
export const blockHashHex = (operation: string, v: unknown): Effect.Effect<string, ChainSourceBadResponse> =>
  typeof v === "string" && /^[0-9a-fA-F]{64}$/.test(v.trim())
    ? Effect.succeed(v.trim().toLowerCase())
    : Effect.fail(bad(operation, `not a block hash: ${JSON.stringify(String(v).slice(0, 60))}`))

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** The client used when the caller gives none: the platform's fetch client (Node 20 has fetch). */
export { HttpClient }
