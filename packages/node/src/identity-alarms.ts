import type { Clock } from './clock.ts'
import type { IdentityConflictEvent, Logger, NodeStats } from './types.ts'

/** At most one identity:conflict event per (conflicting id, source) in this window; the stat counts them all. */
const ALARM_INTERVAL_MS = 10_000

export interface IdentityAlarmsInit {
  readonly clock: Clock
  readonly log: Logger
  readonly stats: NodeStats
  emit(event: IdentityConflictEvent): void
}

/**
 * The copied-key alarm, raised only for conflicts the node trusts (session-policy.ts decides
 * which). Whoever can raise it — a twin holding our key, a peer we chose — can raise it often, so
 * each id gets at most one event per 10 s PER SOURCE: this node's own proof, or each reporting peer. One reporter
 * can then never silence another, nor a proof (a malicious member re-arming a shared window hid
 * an honest member's real report). Ids and reporters here are this node's own and configured or
 * allowlisted ones, so the map is bounded by the configuration, never by remote input.
 */
export class IdentityAlarms {
  readonly #init: IdentityAlarmsInit
  /** Conflicting id and source → clock time of its last event. */
  readonly #alarmedAt = new Map<string, number>()

  constructor(init: IdentityAlarmsInit) {
    this.#init = init
  }

  raise(e: {
    nodeId: string
    incarnations: bigint[]
    byPeer: boolean
    reportedBy?: string
    remoteAddress: string
  }): void {
    const { clock, log, stats } = this.#init
    stats.identityConflicts++
    const now = clock.now()
    const key = `${e.nodeId}|${e.reportedBy ?? 'proof'}`
    const last = this.#alarmedAt.get(key)
    if (last !== undefined && now - last < ALARM_INTERVAL_MS) return
    this.#alarmedAt.set(key, now)
    const incarnations = e.incarnations.map(String)
    log.warn(
      { nodeId: e.nodeId, incarnations, byPeer: e.byPeer, reportedBy: e.reportedBy },
      'identity conflict: one node id, two processes',
    )
    this.#init.emit({ ...e, incarnations })
  }
}
