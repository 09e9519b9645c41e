/**
 * What the composition root and the chain-source layer share when they bind a backend chosen at run time (issue 18:
 * a backend's module loads only when named) and name it in messages.
 */
import { Effect } from "effect"

/** Why the module `what` names did not load (`cause` from its `import()`): one line for a message. */
export const loadFailure = (what: string, cause: unknown): string =>
  `cannot load ${what}: ${cause instanceof Error ? cause.message : String(cause)}`

/**
 * `load()` of the module `what` names, inside a layer's build. A module that cannot load is a broken install, not a
 * backend that is down: a defect naming it.
 */
export const loadModule = <M>(what: string, load: () => Promise<M>): Effect.Effect<M> =>
  Effect.tryPromise({ try: load, catch: (cause) => new Error(loadFailure(what, cause), { cause }) }).pipe(Effect.orDie)

/** `url` with its password masked (an operator sees which backend failed, never its credentials); undefined if not a URL. */
export const maskedUrl = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return undefined
  }
}
