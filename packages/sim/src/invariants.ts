import type { SessionRow } from '@peerhouse/node'
import type { SimNode, World } from './world.ts'

export interface Violation {
  readonly invariant: 'two-sessions' | 'zero-sessions' | 'ends-disagree' | 'message-lost' | 'unbounded' | 'false-alarm'
  readonly at: number
  readonly detail: string
  /** Node indexes involved (for the trace slice). */
  readonly nodes: readonly number[]
}

/** Bounds a node may never pass, from its configuration. */
export interface Bounds {
  readonly maxSessions: number
  readonly maxHandshakes: number
  readonly maxDialsInFlight: number
}

const usable = (r: SessionRow) => r.state === 'established' || r.state === 'open'
const isDedup = (reason: string) => reason === 'duplicate' || reason === 'stale'

/**
 * The invariants, checked on the world's current state:
 * - bounded: sessions, handshakes, timers and open links within what the configuration allows;
 * - once settled (nothing disrupted for `boundMs`): every configured pair whose nodes are up and
 *   can reach each other holds exactly one session, open at both ends, the same session id at both;
 *   and no pair holds two.
 * Each check returns what it found; the caller decides when "settled" applies.
 */
export class Invariants {
  readonly #world: World
  readonly #bounds: Bounds
  readonly violations: Violation[] = []
  /** "node sessionId" of sessions each node closed as a dedup loser by its own rule. */
  readonly #dedupClosed = new Set<string>()
  /** "node sessionId" → close reason, for sessions that ended at that node. */
  readonly #endedAt = new Map<string, string>()

  constructor(world: World, bounds: Bounds) {
    this.#world = world
    this.#bounds = bounds
    world.onNode((sim, node) => {
      node.on('identity:conflict', (e) =>
        this.#add('false-alarm', `node ${sim.index} raised identity:conflict for ${e.nodeId.slice(0, 8)}`, [sim.index]),
      )
      node.on('session:close', (e) => this.#ended(sim.index, e.session.sessionId, e.reason))
      // "Never zero", as a safety property: a node closes a session as a dedup loser only in favour
      // of a winner that it holds and that the other end holds too, or is closing for a reason of its
      // own (a disconnect, a lost link: a race the rule cannot see). The other end closing that
      // winner as a duplicate, or not having it yet, is the rule failing: checked on each such close.
      node.on('session:duplicate', (e) => {
        if (e.byPeer) return
        this.#dedupClosed.add(`${sim.index} ${e.sessionId}`)
        const j = world.indexOf(e.remoteNodeId)
        if (j === undefined || sim.node !== node || !world.reachable(sim.index, j)) return
        const fault = this.#winnerFault(sim.index, j, e.winner)
        if (fault !== undefined) {
          this.#add(
            'zero-sessions',
            `node ${sim.index} closed ${e.sessionId} as a duplicate in favour of ${e.winner}, which ${fault}`,
            [sim.index, j],
          )
        }
      })
    })
  }

  /** Why `winner` cannot stand for the pair (i, j) when i closes a loser for it; undefined if it can. */
  #winnerFault(i: number, j: number, winner: string): string | undefined {
    const world = this.#world
    const here = world.nodes[i]?.node?.sessions().find((r) => r.sessionId === winner)
    if (here === undefined || !usable(here)) return `${i} does not hold open`
    if (this.#dedupClosed.has(`${j} ${winner}`)) return `${j} closed as a duplicate too`
    const there = world.nodes[j]?.node?.sessions().find((r) => r.sessionId === winner)
    if (there !== undefined) return undefined // usable, or closing for a reason of its own
    const ended = this.#endedAt.get(`${j} ${winner}`)
    if (ended === undefined) return `${j} does not hold yet`
    return isDedup(ended) ? `${j} closed as ${ended}` : undefined
  }

  #ended(i: number, sessionId: string, reason: string): void {
    const m = this.#endedAt
    m.set(`${i} ${sessionId}`, reason)
    // Only recent ends matter (a race is short); keep the map bounded on long runs.
    if (m.size > 200_000) for (const k of [...m.keys()].slice(0, 100_000)) m.delete(k)
    if (this.#dedupClosed.size > 200_000) this.#dedupClosed.clear()
  }

  #add(invariant: Violation['invariant'], detail: string, nodes: readonly number[]): void {
    if (this.violations.length < 100) this.violations.push({ invariant, at: this.#world.now, detail, nodes })
  }

  /** Table sizes, handshakes, timers and links within what the configuration allows. */
  checkBounded(): void {
    const b = this.#bounds
    for (const sim of this.#world.nodes) {
      const node = sim.node
      if (node === undefined) continue
      const sessions = node.sessionCount
      const peers = sim.peers.length
      if (sessions > b.maxSessions + peers) {
        this.#add('unbounded', `node ${sim.index} holds ${sessions} sessions (cap ${b.maxSessions} + ${peers} peers)`, [
          sim.index,
        ])
      }
      if (node.handshakesInProgress > b.maxHandshakes + b.maxDialsInFlight + peers) {
        this.#add('unbounded', `node ${sim.index} has ${node.handshakesInProgress} handshakes in progress`, [sim.index])
      }
      // Per connection at most a deadline timer; per peer a re-dial timer; a few node-wide ones.
      const timers = sim.clock.pending
      const allowed = 2 * (sessions + node.handshakesInProgress) + peers + 16
      if (timers > allowed) {
        this.#add('unbounded', `node ${sim.index} has ${timers} timers pending (allowed ${allowed})`, [sim.index])
      }
    }
  }

  /** Once settled: one session per configured reachable pair, open and agreed at both ends; never two for any pair. */
  checkSettled(): boolean {
    const world = this.#world
    const before = this.violations.length
    const byNode = world.nodes.map((sim) => {
      const m = new Map<number, SessionRow[]>()
      for (const r of sim.node?.sessions() ?? []) {
        if (!usable(r)) continue
        const j = world.indexOf(r.remoteNodeId) ?? -1
        const list = m.get(j) ?? []
        list.push(r)
        m.set(j, list)
      }
      return m
    })
    byNode.forEach((m, i) => {
      for (const [j, rows] of m) {
        if (rows.length > 1) {
          this.#add(
            'two-sessions',
            `node ${i} holds ${rows.length} sessions with node ${j}: ${rows.map((r) => r.sessionId).join(', ')}`,
            [i, j],
          )
        }
      }
    })
    for (const [a, b] of world.pairs) {
      if (!world.reachable(a, b)) continue
      const atA = byNode[a]?.get(b) ?? []
      const atB = byNode[b]?.get(a) ?? []
      if (atA.length === 0 || atB.length === 0) {
        this.#add('zero-sessions', `configured pair ${a}-${b}: ${atA.length} sessions at ${a}, ${atB.length} at ${b}`, [
          a,
          b,
        ])
        continue
      }
      const x = atA[0] as SessionRow
      const y = atB[0] as SessionRow
      if (x.sessionId !== y.sessionId || x.state !== 'open' || y.state !== 'open') {
        this.#add(
          'ends-disagree',
          `pair ${a}-${b}: ${x.sessionId} (${x.state}) at ${a}, ${y.sessionId} (${y.state}) at ${b}`,
          [a, b],
        )
      }
    }
    return this.violations.length === before
  }

  /** True when every configured reachable pair is connected and agreed (no violation recorded): convergence. */
  converged(): boolean {
    const world = this.#world
    for (const [a, b] of world.pairs) {
      if (!world.reachable(a, b)) continue
      const x = world.nodes[a]?.node?.sessionFor((world.nodes[b] as SimNode).identity.nodeId)
      const y = world.nodes[b]?.node?.sessionFor((world.nodes[a] as SimNode).identity.nodeId)
      if (
        x === undefined ||
        y === undefined ||
        x.sessionId !== y.sessionId ||
        x.state !== 'open' ||
        y.state !== 'open'
      ) {
        return false
      }
    }
    for (const sim of world.nodes) {
      const node = sim.node
      if (node === undefined) continue
      const seen = new Set<string>()
      for (const r of node.sessions()) {
        if (!usable(r)) continue
        if (seen.has(r.remoteNodeId)) return false
        seen.add(r.remoteNodeId)
      }
    }
    return true
  }

  messagesLost(lost: {
    toDedup: readonly { from: number; to: number; sessionId: string; at: number }[]
    onOpen: readonly { from: number; to: number; sessionId: string; at: number }[]
  }): void {
    for (const m of lost.toDedup.slice(0, 5)) {
      this.#add(
        'message-lost',
        `a message ${m.from}→${m.to} sent at ${m.at.toFixed(0)} ms on session ${m.sessionId}, closed as a duplicate, never arrived`,
        [m.from, m.to],
      )
    }
    for (const m of lost.onOpen.slice(0, 5)) {
      this.#add(
        'message-lost',
        `a message ${m.from}→${m.to} sent at ${m.at.toFixed(0)} ms on session ${m.sessionId}, still open, never arrived`,
        [m.from, m.to],
      )
    }
  }
}
