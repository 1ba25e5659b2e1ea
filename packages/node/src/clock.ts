/** A scheduled callback; cancel() is idempotent. */
export interface Timer {
  cancel(): void
}

/**
 * The node's time source: deadlines, keepalive and liveness read it instead of `Date.now()` and the
 * global timers, so tests (and a simulator) can run a node on time they control. Timers never keep
 * the process alive on their own: the node's listener does.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number
  /** Wall time in Unix milliseconds, for what is shown (a session's openedAt), never for deadlines. */
  wallMs(): number
  setTimeout(fn: () => void, ms: number): Timer
  setInterval(fn: () => void, ms: number): Timer
}

function wrap(handle: NodeJS.Timeout, clear: (h: NodeJS.Timeout) => void): Timer {
  handle.unref()
  return { cancel: () => clear(handle) }
}

/** performance.now() and the global timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout: (fn, ms) => wrap(setTimeout(fn, ms), clearTimeout),
  setInterval: (fn, ms) => wrap(setInterval(fn, ms), clearInterval),
}
