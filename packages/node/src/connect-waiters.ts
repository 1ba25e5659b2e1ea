import type { PeerhouseError } from '@peerhouse/protocol'
import type { Clock, Timer } from './clock.ts'
import { IdSetMap } from './id-set-map.ts'
import type { SessionRow } from './types.ts'

interface Waiter {
  resolve(row: SessionRow): void
  reject(error: Error): void
  deadline?: Timer
}

/**
 * The callers of connect() waiting for a session with a node id. Each is settled exactly once:
 * by a session opening, by the dial's failure (with how it ended), or — when the dial ended as
 * a `duplicate` and the session it deferred to has not opened — by a deadline, so no caller waits
 * on an outcome that will never come.
 */
export class ConnectWaiters {
  readonly #clock: Clock
  readonly #byId = new IdSetMap<Waiter>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  wait(id: string): Promise<SessionRow> {
    return new Promise((resolve, reject) => this.#byId.add(id, { resolve, reject }))
  }

  has(id: string): boolean {
    return this.#byId.has(id)
  }

  resolve(id: string, row: SessionRow): void {
    for (const w of this.#take(id)) w.resolve(row)
  }

  reject(id: string, error: PeerhouseError): void {
    for (const w of this.#take(id)) w.reject(error)
  }

  /** Rejects the waiters for `id` with `error` unless a session opens within `ms`. */
  expireAfter(id: string, ms: number, error: () => PeerhouseError): void {
    for (const w of this.#byId.get(id)) {
      if (w.deadline !== undefined) continue
      w.deadline = this.#clock.setTimeout(() => {
        if (this.#byId.delete(id, w)) w.reject(error())
      }, ms)
    }
  }

  /** Every waiter, for every id (the node stopped). */
  rejectAll(error: PeerhouseError): void {
    for (const id of [...this.#byId.ids()]) this.reject(id, error)
  }

  #take(id: string): Waiter[] {
    const all = [...this.#byId.get(id)]
    for (const w of all) {
      this.#byId.delete(id, w)
      w.deadline?.cancel()
    }
    return all
  }
}
