import type { Clock, Timer } from '@peerhouse/node'
import type { Scheduler } from './scheduler.ts'

/** 2026-01-01T00:00:00Z: the wall time a simulation starts at, so openedAt strings replay too. */
const EPOCH_MS = 1_767_225_600_000

/** The node's Clock over the simulation's scheduler: every timer is a scheduled event. */
export class SimClock implements Clock {
  readonly #s: Scheduler
  /** Timers set and not yet run or cancelled (for the bounded-timers invariant). */
  pending = 0

  constructor(scheduler: Scheduler) {
    this.#s = scheduler
  }

  now(): number {
    return this.#s.now
  }

  wallMs(): number {
    return EPOCH_MS + this.#s.now
  }

  setTimeout(fn: () => void, ms: number): Timer {
    this.pending++
    let live = true
    const ev = this.#s.after(ms, () => {
      live = false
      this.pending--
      fn()
    })
    return {
      cancel: () => {
        if (!live) return
        live = false
        this.pending--
        ev.cancel()
      },
    }
  }

  setInterval(fn: () => void, ms: number): Timer {
    const every = Math.max(1, ms)
    let current: { cancel(): void } | undefined
    let live = true
    this.pending++
    const arm = () => {
      current = this.#s.after(every, () => {
        if (!live) return
        arm()
        fn()
      })
    }
    arm()
    return {
      cancel: () => {
        if (!live) return
        live = false
        this.pending--
        current?.cancel()
      },
    }
  }
}
