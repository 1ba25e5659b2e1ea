import { PeerhouseError } from '@peerhouse/protocol'
import type { Clock } from './clock.ts'
import type { Connection } from './connection.ts'
import type { SessionTable } from './session-table.ts'

/** A session with this much queued counts as behind when the node-wide queue budget is spent. */
const BEHIND_BYTES = 64 * 1024

export interface NodeBudgetsInit {
  readonly table: SessionTable
  readonly clock: Clock
  /** Bytes queued for all peers together (maxQueuedBytes). */
  readonly maxQueuedBytes: number
  /** Bytes of frames still arriving, over all connections (maxPartialFrameBytes). */
  readonly maxPartialFrameBytes: number
  /** Configured, allowlisted or dialed by us: never closed for the partial-frame budget. */
  isProtected(conn: Connection): boolean
}

/**
 * The node-wide bounds on memory that remote peers decide, beside each connection's own: what is
 * queued for all peers (slow readers fed by a broadcast grew a node by 840 MB at 16 MiB each), and
 * frames still arriving (1,000 strangers trickling a 1 MiB frame each held 1.2 GB).
 */
export class NodeBudgets {
  readonly #init: NodeBudgetsInit
  /** Bytes queued over all sessions, summed once per event-loop turn and kept up to date by sent(). */
  #queued?: number
  /** Connections holding 64 KiB or more of a frame still arriving, and how much. */
  readonly #partial = new Map<Connection, number>()
  #partialTotal = 0

  constructor(init: NodeBudgetsInit) {
    this.#init = init
  }

  /** Throws ERR_BACKPRESSURE (nothing queued) when all peers' queues are at the budget and `conn` is behind. */
  checkSend(conn: Connection, nodeId: string): void {
    const total = this.#queuedTotal()
    if (total >= this.#init.maxQueuedBytes && conn.queuedBytes >= BEHIND_BYTES) {
      throw new PeerhouseError(
        'ERR_BACKPRESSURE',
        `${total} bytes queued for all peers (limit ${this.#init.maxQueuedBytes}) and ${conn.queuedBytes} for ${nodeId}; wait for it to read`,
      )
    }
  }

  /** `bytes` more were queued by a send. */
  sent(bytes: number): void {
    if (this.#queued !== undefined) this.#queued += bytes
  }

  /** Summed at most once per event-loop turn: a broadcast to 1,000 peers sums once, not 1,000 times. */
  #queuedTotal(): number {
    if (this.#queued === undefined) {
      let total = 0
      for (const c of this.#init.table.sessions()) total += c.queuedBytes
      this.#queued = total
      this.#init.clock.setTimeout(() => {
        this.#queued = undefined
      }, 0)
    }
    return this.#queued
  }

  /**
   * `conn` now holds `bytes` of a frame still arriving (0: none, or it closed). False: the budget is
   * spent and `conn` belongs to a stranger, which the caller closes (`overloaded`).
   */
  holdPartial(conn: Connection, bytes: number): boolean {
    this.#partialTotal += bytes - (this.#partial.get(conn) ?? 0)
    if (bytes === 0) this.#partial.delete(conn)
    else this.#partial.set(conn, bytes)
    if (bytes === 0 || this.#partialTotal <= this.#init.maxPartialFrameBytes || this.#init.isProtected(conn)) {
      return true
    }
    this.holdPartial(conn, 0)
    return false
  }
}
