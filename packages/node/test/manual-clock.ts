import type { Clock, Timer } from '@peerhouse/node'

interface Scheduled {
  at: number
  seq: number
  fn: () => void
  every?: number
  cancelled: boolean
}

/**
 * A Clock that moves only when the test says so: `advance(ms)` runs every timer due by then, in
 * time order (ties in the order they were set), so counts per tick are exact whatever the load.
 */
export class ManualClock implements Clock {
  #now = 0
  #seq = 0
  readonly #timers: Scheduled[] = []

  now(): number {
    return this.#now
  }

  /** Manual time on the Unix epoch's scale: 2026-01-01 plus the time advanced. */
  wallMs(): number {
    return 1_767_225_600_000 + this.#now
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms)
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms, Math.max(1, ms))
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      const next = this.#due(end)
      if (next === undefined) break
      this.#now = next.at
      if (next.every !== undefined) next.at += next.every
      else next.cancelled = true
      next.fn()
    }
    this.#now = end
  }

  #due(end: number): Scheduled | undefined {
    let best: Scheduled | undefined
    for (let i = this.#timers.length - 1; i >= 0; i--) {
      const t = this.#timers[i] as Scheduled
      if (t.cancelled) {
        this.#timers.splice(i, 1)
        continue
      }
      if (t.at <= end && (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq))) best = t
    }
    return best
  }

  #add(fn: () => void, ms: number, every?: number): Timer {
    const t: Scheduled = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, every, cancelled: false }
    this.#timers.push(t)
    return {
      cancel: () => {
        t.cancelled = true
      },
    }
  }
}
