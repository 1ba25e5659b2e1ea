/**
 * One scenario, two worlds: the same 16 keys, the same Node class and the same options, run once
 * over simulated links in virtual time (World) and once over node:net on 127.0.0.1 (port 0). A
 * scenario only sees the `TwoWorlds` interface below, so both worlds run exactly the same steps,
 * and `outcome()` reads both with the same code (the simulator's nodes are real `Node`s too).
 */
import { createHash } from 'node:crypto'
import { Node, type NodeInit, type SessionRow, type TestOnlyBreaks } from '@peerhouse/node'
import { type Identity, identityFromSecretKey } from '@peerhouse/protocol'
import { Invariants, World } from '../src/index.ts'

export const N = 16

/** Fixed keys, so a failure names the same ids on every run (sha256 of a label: a valid secp256k1 scalar). */
export const SECRET_KEYS: readonly Uint8Array[] = Array.from({ length: N }, (_, i) =>
  createHash('sha256').update(`peerhouse two-worlds key ${i}`).digest(),
)
export const IDENTITIES: readonly Identity[] = SECRET_KEYS.map((k) => identityFromSecretKey(k))
const INDEX = new Map(IDENTITIES.map((id, i) => [id.nodeId, i]))

/** The index of the node whose id ranks `rank` (0: the smallest id). */
export function byRank(rank: number): number {
  const sorted = [...IDENTITIES.keys()].sort((a, b) => cmp(IDENTITIES[a]?.nodeId, IDENTITIES[b]?.nodeId))
  return sorted[rank] as number
}

const cmp = (a = '', b = '') => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Deadlines far above any delay a loaded machine adds, so no outcome comes from a timeout (a timed
 * out handshake of the smaller id could leave the larger id's session standing); keepalive beyond
 * the whole test, so nothing here comes from a keepalive close either.
 */
const NO_TIMEOUTS: Partial<NodeInit> = {
  handshakeTimeoutMs: 20_000,
  helloTimeoutMs: 20_000,
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 120_000,
}

/**
 * The node as shipped (HELLO screen on, §8.8), with a long dial grace: the larger id's dial
 * waits 2.5–5 s (§10.2), far longer than a restarted node takes to listen again, so the smaller
 * id's dial (at once, or its re-dial backoff of 0.05–3 s after a loss) is always the first one.
 */
export const SCREENED: Partial<NodeInit> = { ...NO_TIMEOUTS, dialGraceMs: 5000 }

/**
 * The dedup rule alone (the simulator's `simultaneous` settings): no grace, no screen, so at the
 * storm both ends of every pair dial at once, both handshakes complete, and rule 1 (§8.1) decides.
 * Re-dials after a loss wait 5–10 s: a restarted node's own dials (at once, no grace) are then
 * always up before its peers re-dial, which find the session and skip (§8.6 302/304). With the
 * default 50–100 ms the two race, and a loaded machine decides which dial makes the session.
 */
export const RULE_ALONE: Partial<NodeInit> = {
  ...NO_TIMEOUTS,
  dialGraceMs: 0,
  screenCrossingDials: false,
  redialMinMs: 10_000,
  redialMaxMs: 20_000,
}

/** What a scenario can do to a world. Indexes are into SECRET_KEYS. */
export interface TwoWorlds {
  readonly name: string
  /** Each node's current life (undefined while down). */
  nodes(): readonly (Node | undefined)[]
  /** Every life of every node so far, for the stats. */
  lives(): readonly Node[]
  /** All N nodes listening, then each configured with every other, all dialing at once. */
  storm(): Promise<void>
  /** Node `i` dies at once: links destroyed, no CLOSE. */
  crash(i: number): Promise<void>
  /** Node `i` stops gracefully: CLOSE `shutdown` on every session, waits for the FINs. */
  stop(i: number): Promise<void>
  /** Node `i`'s next life: the same key, address and configured peers, a larger incarnation. */
  restart(i: number): Promise<void>
  /** Resolves once `check()` holds; rejects (with `describe()`) past the world's deadline. */
  until(check: () => boolean, describe: () => string): Promise<void>
  /** Proven identity alarms (identity:conflict) raised by any node, any life. */
  readonly alarms: string[]
  close(): Promise<void>
}

// --- what is compared ------------------------------------------------------------------------

const usable = (r: SessionRow) => r.state === 'established' || r.state === 'open'
const usableWith = (node: Node | undefined, j: number): SessionRow[] =>
  (node?.sessions() ?? []).filter((r) => usable(r) && INDEX.get(r.remoteNodeId) === j)

/**
 * The one session pair (a, b) holds, or what is wrong with the pair: it must be the only usable
 * session at each end, open (confirmed) at both, with the same session id at both, and the one
 * `sessionFor()` (what send() uses) returns at each end.
 */
function pairSession(nodes: readonly (Node | undefined)[], a: number, b: number): SessionRow | string {
  const x = usableWith(nodes[a], b)
  const y = usableWith(nodes[b], a)
  const [p, q] = [x[0], y[0]]
  if (x.length !== 1 || y.length !== 1 || p === undefined || q === undefined) {
    return `${x.length} sessions at ${a}, ${y.length} at ${b}`
  }
  if (p.sessionId !== q.sessionId || p.state !== 'open' || q.state !== 'open') {
    return `ends disagree: ${p.state} ${p.sessionId.slice(0, 8)} at ${a}, ${q.state} ${q.sessionId.slice(0, 8)} at ${b}`
  }
  const sendA = nodes[a]?.sessionFor(p.remoteNodeId)?.sessionId
  const sendB = nodes[b]?.sessionFor(q.remoteNodeId)?.sessionId
  if (sendA !== p.sessionId || sendB !== p.sessionId) {
    return `send() uses ${sendA?.slice(0, 8)} at ${a}, ${sendB?.slice(0, 8)} at ${b}, not ${p.sessionId.slice(0, 8)}`
  }
  return p
}

/** Settled: every node up, no handshake or dial in flight anywhere, and every pair holds its one session. */
export function settled(nodes: readonly (Node | undefined)[]): boolean {
  for (const n of nodes) if (n === undefined || n.handshakesInProgress > 0) return false
  for (let a = 0; a < N; a++) {
    for (let b = a + 1; b < N; b++) if (typeof pairSession(nodes, a, b) === 'string') return false
  }
  return true
}

/** For a deadline's message: each node's handshakes and rows, and the first pairs not settled. */
export function report(nodes: readonly (Node | undefined)[]): string {
  const counts = nodes
    .map((n, i) => `#${i}:${n === undefined ? 'down' : `${n.handshakesInProgress}h/${n.sessions().length}s`}`)
    .join(' ')
  const pairs: string[] = []
  for (let a = 0; a < N && pairs.length < 5; a++) {
    for (let b = a + 1; b < N && pairs.length < 5; b++) {
      const p = pairSession(nodes, a, b)
      if (typeof p === 'string') pairs.push(`${a}-${b}: ${p}`)
    }
  }
  return `${counts}; ${pairs.join('; ')}`
}

/**
 * The outcome, per pair "a-b" (a < b by index): "by k" where k is the index of the node that dialed
 * the one session both ends hold (its `initiator`, fixed by the signed HELLO roles, so both ends
 * report the same), or what is wrong with the pair. With `before` (the session ids of the
 * previous outcome) and the restarted node `victim`, each pair also says whether it kept its
 * session through the restart ("kept"), or, for the victim's pairs, holds a session with the
 * victim's new life ("new life" at both ends: each end's remote incarnation is the other's now).
 * Session ids themselves are not compared: they hash the handshake's nonces, random in each world.
 */
export function outcome(
  nodes: readonly (Node | undefined)[],
  restart?: { victim: number; before: ReadonlyMap<string, string> },
): Record<string, string> {
  const out: Record<string, string> = {}
  for (let a = 0; a < N; a++) {
    for (let b = a + 1; b < N; b++) {
      const key = `${a}-${b}`
      const p = pairSession(nodes, a, b)
      if (typeof p === 'string') {
        out[key] = p
        continue
      }
      let text = `by ${INDEX.get(p.initiator) ?? p.initiator}`
      if (restart !== undefined) {
        if (a === restart.victim || b === restart.victim) {
          const fresh =
            p.remoteIncarnation === nodes[b]?.incarnation.toString() &&
            usableWith(nodes[b], a)[0]?.remoteIncarnation === nodes[a]?.incarnation.toString() &&
            restart.before.get(key) !== p.sessionId
          text += fresh ? ', new life' : ', OLD LIFE'
        } else {
          text += restart.before.get(key) === p.sessionId ? ', kept' : ', REPLACED'
        }
      }
      out[key] = text
    }
  }
  return out
}

/** Pair "a-b" → the index of its smaller id: whose session rule 1 keeps when both dialed (§8.1). */
export function smallerIds(): Map<string, number> {
  const out = new Map<string, number>()
  for (let a = 0; a < N; a++) {
    for (let b = a + 1; b < N; b++) out.set(`${a}-${b}`, cmp(IDENTITIES[a]?.nodeId, IDENTITIES[b]?.nodeId) < 0 ? a : b)
  }
  return out
}

/** Sums of a few node stats over every life, for the report (timing decides them, so they are not compared). */
export function statsLine(lives: readonly Node[]): string {
  const sum = (f: (n: Node) => number) => lives.reduce((acc, n) => acc + f(n), 0)
  const failed = sum((n) => Object.values(n.stats.handshakesFailed).reduce((a, b) => a + (b ?? 0), 0))
  return [
    `dials ${sum((n) => n.stats.dials)}`,
    `skipped ${sum((n) => n.stats.dialsSkipped)}`,
    `handshakes ${sum((n) => n.stats.handshakesOk)}`,
    `failed ${failed}`,
    `duplicates closed ${sum((n) => n.stats.duplicatesClosed)}`,
    `avoided ${sum((n) => n.stats.duplicatesAvoided)}`,
    `stale ${sum((n) => n.stats.staleClosed)}`,
  ].join(', ')
}

/** Alarms and disagreements, any node, any life: none is expected in either world. */
export function alarms(w: TwoWorlds): Record<string, string> {
  const out: Record<string, string> = Object.fromEntries(w.alarms.map((a, i) => [`alarm ${i}`, a]))
  for (const n of w.lives()) {
    const { identityConflicts, dedupDisagreements } = n.stats
    const i = INDEX.get(n.nodeId)
    if (identityConflicts > 0) out[`identityConflicts ${i} ${n.incarnation}`] = String(identityConflicts)
    if (dedupDisagreements > 0) out[`dedupDisagreements ${i} ${n.incarnation}`] = String(dedupDisagreements)
  }
  return out
}

/** Pair "a-b" → the session id it holds now, for the next outcome's kept / new-life check. */
export function sessionIds(nodes: readonly (Node | undefined)[]): Map<string, string> {
  const ids = new Map<string, string>()
  for (let a = 0; a < N; a++) {
    for (const r of nodes[a]?.sessions() ?? []) {
      const b = INDEX.get(r.remoteNodeId)
      if (b !== undefined && b > a && usable(r)) ids.set(`${a}-${b}`, r.sessionId)
    }
  }
  return ids
}

// --- the real world ----------------------------------------------------------------------------

/** Over node:net on 127.0.0.1, port 0; waits are on node events, bounded by a wall-clock deadline. */
export class RealWorld implements TwoWorlds {
  readonly name = 'real sockets'
  readonly alarms: string[] = []
  readonly #lives: (Node | undefined)[] = []
  readonly #ports: number[] = []
  readonly #all: Node[] = []
  readonly #options: Partial<NodeInit>
  readonly #deadlineMs: number
  /** Called on every node event, so a pending until() re-checks. */
  #poke: () => void = () => {}

  constructor(options: Partial<NodeInit>, deadlineMs = 15_000) {
    this.#options = options
    this.#deadlineMs = deadlineMs
  }

  nodes(): readonly (Node | undefined)[] {
    return this.#lives
  }

  lives(): readonly Node[] {
    return this.#all
  }

  #create(i: number, init: Partial<NodeInit>): Node {
    const node = new Node({ ...this.#options, ...init, identity: IDENTITIES[i] })
    node.on('identity:conflict', (e) => this.alarms.push(`node ${i}: identity:conflict for ${e.nodeId.slice(0, 8)}`))
    for (const e of ['session:open', 'session:close', 'session:duplicate', 'handshake:error'] as const) {
      node.on(e, () => this.#poke())
    }
    this.#all.push(node)
    this.#lives[i] = node
    return node
  }

  async storm(): Promise<void> {
    const nodes = Array.from({ length: N }, (_, i) => this.#create(i, {}))
    await Promise.all(nodes.map((n) => n.start()))
    nodes.forEach((n, i) => {
      this.#ports[i] = n.port
    })
    // One synchronous batch: every node's dials are issued before any connection event is handled.
    for (const n of nodes) n.addPeers(nodes.filter((m) => m !== n).map((m) => m.address))
  }

  async crash(i: number): Promise<void> {
    const node = this.#lives[i]
    this.#lives[i] = undefined
    await node?.stop({ graceful: false })
  }

  async stop(i: number): Promise<void> {
    const node = this.#lives[i]
    this.#lives[i] = undefined
    await node?.stop()
  }

  async restart(i: number): Promise<void> {
    const peers = IDENTITIES.flatMap((id, j) => (j === i ? [] : [`${id.nodeId}@127.0.0.1:${this.#ports[j]}`]))
    // The port of its first life (chosen by port 0): its peers keep that address configured.
    await this.#create(i, { port: this.#ports[i], peers }).start()
  }

  until(check: () => boolean, describe: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      // Re-checked on every node event and, as a backstop for state that changes without one (a
      // refused handshake leaving the count of handshakes in progress), every 20 ms; the deadline
      // only catches hangs, it is never what a pass depends on.
      const done = (error?: Error) => {
        clearInterval(poll)
        clearTimeout(deadline)
        this.#poke = () => {}
        error === undefined ? resolve() : reject(error)
      }
      const recheck = () => {
        if (check()) done()
      }
      const poll = setInterval(recheck, 20)
      const deadline = setTimeout(
        () => done(new Error(`${this.name}: not within ${this.#deadlineMs} ms: ${describe()}`)),
        this.#deadlineMs,
      )
      this.#poke = recheck
      recheck()
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.#all.map((n) => n.stop({ graceful: false })))
  }
}

// --- the simulated world -----------------------------------------------------------------------

/** World over simulated links (1–10 ms one way); waits run virtual time, bounded in virtual time. */
export class SimWorld implements TwoWorlds {
  readonly name: string
  readonly alarms: string[] = []
  readonly world: World
  readonly invariants: Invariants
  readonly #deadlineMs: number
  readonly #all: Node[] = []

  constructor(options: Partial<NodeInit>, seed: number, breaks?: TestOnlyBreaks, deadlineMs = 120_000) {
    this.name = `simulator (seed ${seed})`
    this.#deadlineMs = deadlineMs
    this.world = new World({
      seed,
      nodes: N,
      topology: { kind: 'full-mesh' },
      node: options,
      secretKeys: SECRET_KEYS,
      testOnlyBreaks: breaks,
    })
    this.invariants = new Invariants(this.world, { maxSessions: 1024, maxHandshakes: 512, maxDialsInFlight: 16 })
    this.world.onNode((sim, node) => {
      this.#all.push(node)
      node.on('identity:conflict', (e) =>
        this.alarms.push(`node ${sim.index}: identity:conflict for ${e.nodeId.slice(0, 8)}`),
      )
    })
  }

  nodes(): readonly (Node | undefined)[] {
    return this.world.nodes.map((s) => s.node)
  }

  lives(): readonly Node[] {
    return this.#all
  }

  async storm(): Promise<void> {
    // Every node configured with every other (World's full mesh) and started at the same instant.
    for (let i = 0; i < N; i++) await this.world.start(i)
  }

  async crash(i: number): Promise<void> {
    this.world.crash(i)
  }

  async stop(i: number): Promise<void> {
    // World has crash() only; a graceful stop is the same Node.stop() run in virtual time.
    const sim = this.world.nodes[i]
    const node = sim?.node
    if (sim === undefined || node === undefined) return
    sim.node = undefined
    let stopped = false
    void node.stop().then(() => {
      stopped = true
    })
    await this.until(
      () => stopped,
      () => `node ${i} still stopping`,
    )
  }

  async restart(i: number): Promise<void> {
    await this.world.start(i)
  }

  /** Runs virtual time in 10 ms steps until `check()` holds; the deadline is virtual time too. */
  async until(check: () => boolean, describe: () => string): Promise<void> {
    const end = this.world.now + this.#deadlineMs
    while (!check()) {
      if (this.world.now >= end) throw new Error(`${this.name}: not within ${this.#deadlineMs} sim ms: ${describe()}`)
      await this.world.runUntil(this.world.now + 10)
    }
  }

  async close(): Promise<void> {
    for (const sim of this.world.nodes) void sim.node?.stop({ graceful: false })
  }
}
