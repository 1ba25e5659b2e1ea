import { PeerhouseError } from '@peerhouse/protocol'
import type { Clock } from './clock.ts'
import type { Connection } from './connection.ts'
import type { SessionTable } from './session-table.ts'

/** A session with this much queued counts as behind when the strangers' queue budget is spent. */
const BEHIND_BYTES = 64 * 1024

export interface NodeBudgetsInit {
  readonly table: SessionTable
  readonly clock: Clock
  /** Bytes queued for strangers together (maxQueuedBytes). */
  readonly maxQueuedBytes: number
  /** Memory kept for frames still arriving, over all connections (maxPartialFrameBytes). */
  readonly maxPartialFrameBytes: number
  /** Configured, allowlisted or dialed by us: never closed for, nor refused by, these budgets. */
  isProtected(conn: Connection): boolean
}

interface Partial {
  bytes: number
  /** clock.now() when this connection started holding an incomplete frame. */
  since: number
}

/**
 * The node-wide bounds on memory that remote peers decide, beside each connection's own, charged
 * to strangers only (peers the node chose are bounded by their own per-session limits and by the
 * configuration):
 * - what is queued for strangers (slow readers fed by a broadcast grew a node by 840 MB at 16 MiB
 *   each; and a few non-readers spending a node-wide budget shrank honest peers' queues);
 * - memory kept for frames still arriving (1,000 strangers each trickling a 1 MiB frame held 1.2 GB).
 *   Past that budget the strangers that have held an incomplete frame the LONGEST are closed first:
 *   a peer that parks part of a frame to spend the budget goes before one that is streaming.
 */
export class NodeBudgets {
  readonly #init: NodeBudgetsInit
  /** Bytes queued for strangers, summed once per event-loop turn and kept up to date by sent(). */
  #queued?: number
  readonly #partial = new Map<Connection, Partial>()
  #partialTotal = 0

  constructor(init: NodeBudgetsInit) {
    this.#init = init
  }

  /** Throws ERR_BACKPRESSURE (nothing queued) when strangers' queues are at the budget and `conn`, a stranger, is behind. */
  checkSend(conn: Connection, nodeId: string): void {
    if (conn.queuedBytes < BEHIND_BYTES || this.#init.isProtected(conn)) return
    const total = this.#strangersQueued()
    if (total >= this.#init.maxQueuedBytes) {
      throw new PeerhouseError(
        'ERR_BACKPRESSURE',
        `${total} bytes queued for strangers (limit ${this.#init.maxQueuedBytes}) and ${conn.queuedBytes} for ${nodeId}; wait for it to read`,
      )
    }
  }

  /** `bytes` more were queued for `conn` by a send. */
  sent(conn: Connection, bytes: number): void {
    if (this.#queued !== undefined && !this.#init.isProtected(conn)) this.#queued += bytes
  }

  /** Summed at most once per event-loop turn: a broadcast to 1,000 peers sums once, not 1,000 times. */
  #strangersQueued(): number {
    if (this.#queued === undefined) {
      let total = 0
      for (const c of this.#init.table.sessions()) if (!this.#init.isProtected(c)) total += c.queuedBytes
      this.#queued = total
      this.#init.clock.setTimeout(() => {
        this.#queued = undefined
      }, 0)
    }
    return this.#queued
  }

  /**
   * `conn`'s decoder now keeps `bytes` for a frame still arriving (0: none, or it closed). Returns
   * the strangers to close (`overloaded`) so that the budget holds, oldest incomplete frame first;
   * `conn` may be one of them.
   */
  holdPartial(conn: Connection, bytes: number): Connection[] {
    const had = this.#partial.get(conn)
    this.#partialTotal += bytes - (had?.bytes ?? 0)
    if (bytes === 0) this.#partial.delete(conn)
    else if (had === undefined) this.#partial.set(conn, { bytes, since: this.#init.clock.now() })
    else had.bytes = bytes
    if (this.#partialTotal <= this.#init.maxPartialFrameBytes) return []
    const victims: Connection[] = []
    // Map order is insertion order: the first entries started holding earliest.
    for (const [c, p] of this.#partial) {
      if (this.#partialTotal <= this.#init.maxPartialFrameBytes) break
      if (this.#init.isProtected(c)) continue
      victims.push(c)
      this.#partialTotal -= p.bytes
      this.#partial.delete(c)
    }
    return victims
  }
}
