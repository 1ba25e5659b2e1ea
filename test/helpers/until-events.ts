/** What the wait needs of an emitter (a Node, a TcpProxy): typed emitters fit this too. */
interface Emitter {
  on(event: string, listener: () => void): unknown
  off(event: string, listener: () => void): unknown
}

/** An emitter and the events after which a condition may have changed. */
export type EventSource = readonly [emitter: Emitter, events: readonly string[]]

/**
 * Resolves with the wait in ms once `check()` is true, re-checked after every listed event of
 * every source (no polling, no sleeps): a condition that mixes node state and proxy events must
 * be re-checked on both, or it waits for an unrelated event to come by. Rejects after `timeoutMs`
 * (a deadline against hangs) with `describe()` in the message.
 */
export function untilEvents(
  sources: readonly EventSource[],
  check: () => boolean,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer)
      for (const [emitter, events] of sources) for (const e of events) emitter.off(e, recheck)
    }
    const recheck = () => {
      if (!check()) return
      done()
      resolve(performance.now() - started)
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`condition not met within ${timeoutMs} ms: ${describe()}`))
    }, timeoutMs)
    for (const [emitter, events] of sources) for (const e of events) emitter.on(e, recheck)
    recheck()
  })
}
