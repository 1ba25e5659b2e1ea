import type { Clock, Timer } from '@peerhouse/node'
import type { Event, Scheduler, Task } from './scheduler.ts'

/** 2026-01-01T00:00:00Z: the wall time a simulation starts at, so openedAt strings replay too. */
const EPOCH_MS = 1_767_225_600_000

/**
 * A node's timeout: its own scheduler task and its own handle (one object and one event per timer,
 * no closures: a node sets and cancels one per frame sent on a busy link, and thousands of nodes run).
 */
class SimTimeout implements Timer, Task {
  readonly #clock: SimClock
  #fn: (() => void) | undefined
  readonly #ev: Event

  constructor(clock: SimClock, scheduler: Scheduler, fn: () => void, ms: number) {
    this.#clock = clock
    this.#fn = fn
    this.#ev = scheduler.schedule(ms, this)
  }

  run(): void {
    const fn = this.#fn
    if (fn === undefined) return
    this.#fn = undefined
    this.#clock.pending--
    fn()
  }

  cancel(): void {
    if (this.#fn === undefined) return
    this.#fn = undefined
    this.#clock.pending--
    this.#ev.cancel()
  }
}

/** A node's interval: re-armed before each run, as the real timers are. */
class SimInterval implements Timer, Task {
  readonly #clock: SimClock
  readonly #scheduler: Scheduler
  #fn: (() => void) | undefined
  readonly #every: number
  #ev: Event

  constructor(clock: SimClock, scheduler: Scheduler, fn: () => void, every: number) {
    this.#clock = clock
    this.#scheduler = scheduler
    this.#fn = fn
    this.#every = every
    this.#ev = scheduler.schedule(every, this)
  }

  run(): void {
    const fn = this.#fn
    if (fn === undefined) return
    this.#ev = this.#scheduler.schedule(this.#every, this)
    fn()
  }

  cancel(): void {
    if (this.#fn === undefined) return
    this.#fn = undefined
    this.#clock.pending--
    this.#ev.cancel()
  }
}

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
    return new SimTimeout(this, this.#s, fn, ms)
  }

  setInterval(fn: () => void, ms: number): Timer {
    this.pending++
    return new SimInterval(this, this.#s, fn, Math.max(1, ms))
  }
}
