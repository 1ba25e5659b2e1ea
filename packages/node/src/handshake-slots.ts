import type { Connection } from './connection.ts'

/**
 * Inbound connections before the key proof. Each holds only its own slot here: nothing it claims
 * is filed in the session table, so an unproven connection can never block a dial, delay a
 * re-dial or count as a session (PRIOR-ART.md, lesson 7).
 *
 * The pool is bounded. At the cap a new connection evicts the OLDEST one, whatever it has sent:
 * a real peer finishes its handshake in a few round trips, so a flood of slow or stalled sockets
 * (one byte, or a full HELLO and then silence) only ever evicts itself, however it stalls. Our
 * own dials never come here (they are bounded by maxDialsInFlight). And once a HELLO names a
 * configured or allowlisted id, one connection per such id is kept aside from eviction: a
 * stranger claiming that id can take that one place, but no more, and the real peer still has
 * the pool like anyone else.
 */
export class HandshakeSlots {
  readonly #max: number
  /** Insertion order is age: the first is the oldest. */
  readonly #pool = new Set<Connection>()
  /** Claimed protected id → the one connection kept aside for it. */
  readonly #kept = new Map<string, Connection>()
  readonly #keptAs = new Map<Connection, string>()

  constructor(max: number) {
    this.#max = max
  }

  /** Connections in the evictable pool (kept-aside ones not counted). */
  get size(): number {
    return this.#pool.size
  }

  get keptAside(): number {
    return this.#kept.size
  }

  /**
   * Makes room for one more: at the cap, removes and returns the oldest connection, which the
   * caller must abort. It leaves the pool at once, so a burst of arrivals evicts a different one each.
   */
  makeRoom(): Connection | undefined {
    if (this.#pool.size < this.#max) return undefined
    const oldest = this.#pool.values().next().value as Connection
    this.#pool.delete(oldest)
    return oldest
  }

  add(conn: Connection): void {
    this.#pool.add(conn)
  }

  /** The peer's HELLO named `id`. A protected id with no connection kept aside gets this one. */
  claim(conn: Connection, id: string, isProtected: boolean): void {
    if (!isProtected || this.#kept.has(id) || !this.#pool.has(conn)) return
    this.#pool.delete(conn)
    this.#kept.set(id, conn)
    this.#keptAs.set(conn, id)
  }

  /** The connection was proven or closed: its slot is free. */
  release(conn: Connection): void {
    this.#pool.delete(conn)
    const id = this.#keptAs.get(conn)
    if (id === undefined) return
    this.#keptAs.delete(conn)
    if (this.#kept.get(id) === conn) this.#kept.delete(id)
  }
}
