/** Something the scheduler runs: a task object saves the closure (and its allocation) per event. */
export interface Task {
  run(): void
}

/**
 * One scheduled callback, and its own handle: cancelling marks it, and a cancelled one stays in the
 * heap and is skipped when it comes up. One object per event (no handle, no closure for cancel):
 * a run schedules millions of these.
 */
export class Event {
  readonly at: number
  readonly seq: number
  fn: (() => void) | undefined
  task: Task | undefined
  cancelled = false

  constructor(at: number, seq: number, fn: (() => void) | undefined, task: Task | undefined) {
    this.at = at
    this.seq = seq
    this.fn = fn
    this.task = task
  }

  cancel(): void {
    this.cancelled = true
    // Let what it would have run be collected while it waits in the heap.
    this.fn = undefined
    this.task = undefined
  }
}

/**
 * Virtual time and the one ordering of everything that happens in a simulation: events run in
 * time order, and events due at the same time in the order they were scheduled. Nothing else
 * decides an order, so a run is reproducible from its seed.
 */
export class Scheduler {
  #now = 0
  #seq = 0
  /** A binary min-heap on (at, seq). */
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
  after(ms: number, fn: () => void): Event {
    const ev = new Event(ms > 0 ? this.#now + ms : this.#now, this.#seq++, fn, undefined)
    this.#push(ev)
    return ev
  }

  /** Runs `task.run()` `ms` from now: as `after`, in the same order, without a closure. */
  schedule(ms: number, task: Task): Event {
    const ev = new Event(ms > 0 ? this.#now + ms : this.#now, this.#seq++, undefined, task)
    this.#push(ev)
    return ev
  }

  /** Runs the next event; false when there is none due by `until`. */
  step(until = Number.POSITIVE_INFINITY): boolean {
    const h = this.#heap
    for (;;) {
      const top = h[0]
      if (top === undefined || top.at > until) return false
      this.#pop()
      if (top.cancelled) continue
      this.#now = top.at
      this.executed++
      const task = top.task
      if (task !== undefined) task.run()
      else (top.fn as () => void)()
      return true
    }
  }

  /** The time of the next live event, or undefined. */
  peek(): number | undefined {
    const h = this.#heap
    while (h.length > 0 && (h[0] as Event).cancelled) this.#pop()
    return h[0]?.at
  }

  /** Moves the clock to `t` (nothing due before it may be pending). */
  advanceTo(t: number): void {
    if (t > this.#now) this.#now = t
  }

  #push(ev: Event): void {
    const h = this.#heap
    let i = h.length
    h.push(ev)
    // Sift up with a hole: parents move down, `ev` is written once.
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p] as Event
      if (parent.at < ev.at || (parent.at === ev.at && parent.seq < ev.seq)) break
      h[i] = parent
      i = p
    }
    h[i] = ev
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop() as Event
    const n = h.length
    if (n === 0) return
    // Sift `last` down from the root with a hole.
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      let m = l
      let child = h[l] as Event
      const r = l + 1
      if (r < n) {
        const right = h[r] as Event
        if (right.at < child.at || (right.at === child.at && right.seq < child.seq)) {
          m = r
          child = right
        }
      }
      if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break
      h[i] = child
      i = m
    }
    h[i] = last
  }
}
