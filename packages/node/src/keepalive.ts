import type { Clock, Timer } from './clock.ts'
import type { SessionTable } from './session-table.ts'

export interface KeepaliveInit {
  readonly table: SessionTable
  readonly clock: Clock
  readonly intervalMs: number
  readonly timeoutMs: number
  /** A session whose queued bytes made no progress for this long is closed `slow-reader`. */
  readonly writeStallMs: number
}

/**
 * Keepalive of usable sessions (PROTOCOL.md §10.1). Every `intervalMs` a tick closes the
 * sessions that received nothing for `timeoutMs` (`keepalive-timeout`: one encrypted CLOSE, and
 * no wait for a FIN that will not come), closes those whose peer stopped reading what we queued
 * (`slow-reader`), and PINGs the others — only those that received nothing since this node's
 * previous tick: a session that hears from its peer needs no probe from this side, and the two
 * ends of an idle session then take turns (one PING per 1.5 intervals instead of two per
 * interval: an idle 128-node mesh spent 61 % of a core on keepalive). Either end still hears
 * something at least every 2 intervals, so this needs a timeout of 2.5 intervals or more; with a
 * shorter one every tick PINGs every session. "Received since the previous tick" is counted in
 * bytes, not compared in time, so it is exact on any clock.
 */
export class Keepalive {
  readonly #init: KeepaliveInit
  #timer?: Timer

  constructor(init: KeepaliveInit) {
    this.#init = init
  }

  start(): void {
    for (const conn of this.#init.table.connections()) conn.bytesInAtTick = conn.bytesIn
    this.#timer = this.#init.clock.setInterval(() => this.tick(), this.#init.intervalMs)
  }

  stop(): void {
    this.#timer?.cancel()
    this.#timer = undefined
  }

  tick(): void {
    const { table, clock, intervalMs, timeoutMs, writeStallMs } = this.#init
    const deadline = clock.now() - timeoutMs
    const quiet = timeoutMs >= 2.5 * intervalMs
    for (const conn of table.connections()) {
      if (!conn.usable) continue
      const heard = conn.bytesIn !== conn.bytesInAtTick
      conn.bytesInAtTick = conn.bytesIn
      if (conn.writeStalled(writeStallMs)) conn.abort('slow-reader')
      else if (conn.lastReceivedAt < deadline) conn.close('keepalive-timeout', { noDrain: true })
      else if (!quiet || !heard) conn.ping()
    }
  }
}
