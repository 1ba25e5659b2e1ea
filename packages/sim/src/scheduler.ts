/** One scheduled callback. Cancelled ones stay in the heap and are skipped when they come up. */
interface Event {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/**
 * Virtual time and the one ordering of everything that happens in a simulation: events run in
 * time order, and events due at the same time in the order they were scheduled. Nothing else
 * decides an order, so a run is reproducible from its seed.
 */
export class Scheduler {
  #now = 0
  #seq = 0
  readonly #heap: Event[] = []
  /** Events run so far. */
  executed = 0

  get now(): number {
    return this.#now
  }

  /** Pending events (cancelled ones included until they come up). */
  get size(): number {
    return this.#heap.length
  }

  /** Runs `fn` `ms` from now (0: after everything already due now). */
  after(ms: number, fn: () => void): { cancel(): void } {
    const ev: Event = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#push(ev)
    return {
      cancel: () => {
        ev.cancelled = true
      },
    }
  }

  /** Runs the next event; false when there is none due by `until`. */
  step(until = Number.POSITIVE_INFINITY): boolean {
    for (;;) {
      const top = this.#heap[0]
      if (top === undefined || top.at > until) return false
      this.#pop()
      if (top.cancelled) continue
      this.#now = top.at
      this.executed++
      top.fn()
      return true
    }
  }

  /** The time of the next live event, or undefined. */
  peek(): number | undefined {
    while (this.#heap[0]?.cancelled === true) this.#pop()
    return this.#heap[0]?.at
  }

  /** Moves the clock to `t` (nothing due before it may be pending). */
  advanceTo(t: number): void {
    if (t > this.#now) this.#now = t
  }

  #less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  #push(ev: Event): void {
    const h = this.#heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i] as Event, h[p] as Event)) break
      ;[h[i], h[p]] = [h[p] as Event, h[i] as Event]
      i = p
    }
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop() as Event
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.#less(h[l] as Event, h[m] as Event)) m = l
      if (r < h.length && this.#less(h[r] as Event, h[m] as Event)) m = r
      if (m === i) break
      ;[h[i], h[m]] = [h[m] as Event, h[i] as Event]
      i = m
    }
  }
}
