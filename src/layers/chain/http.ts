/**
 * What the chain backends share about HTTP: one request with a timeout, its failures sorted into the ChainSource
 * errors (unreachable, a 5xx or a timeout is `ChainSourceUnavailable`, retried; anything else unreadable is
 * `ChainSourceBadResponse`), and 404 kept apart (Esplora's "no such block/tx": a fact, not a failure).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Duration, Effect } from "effect"
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

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** The client used when the caller gives none: the platform's fetch client (Node 20 has fetch). */
export { HttpClient }
