/**
 * A token bucket for events that remote input drives without any proof: a handshake that fails
 * is one event, and a stranger can fail thousands of handshakes a second (a flood evicted 4,000
 * a second in the slow-handshake test). Each would be a message to the supervisor thread, a zod
 * parse and an SSE write. Past the budget events are counted, not sent, and the worker reports the
 * count once a second (`handshake:suppressed`), so nothing is lost silently and the supervisor's
 * load is bounded whatever the attack.
 */
export class EventBudget {
  readonly #perSecond: number
  readonly #burst: number
  #tokens: number
  #refilledAt: number
  #suppressed = 0
  readonly #now: () => number

  constructor(perSecond: number, burst = perSecond, now: () => number = () => performance.now()) {
    this.#perSecond = perSecond
    this.#burst = burst
    this.#tokens = burst
    this.#now = now
    this.#refilledAt = now()
  }

  /** True: send this event. False: it was counted for `takeSuppressed()`. */
  allow(): boolean {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond)
    this.#refilledAt = now
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return true
    }
    this.#suppressed++
    return false
  }

  /** Events held back since the last call. */
  takeSuppressed(): number {
    const n = this.#suppressed
    this.#suppressed = 0
    return n
  }
}
