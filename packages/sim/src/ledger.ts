import type { Rng } from './rng.ts'
import type { World } from './world.ts'

interface Sent {
  readonly from: number
  readonly to: number
  readonly sessionId: string
  readonly at: number
}

/**
 * Messages between configured pairs, every `everyMs` of sim time while `sending` says so, each on
 * the session send() uses at that moment. A message on a session that a dedup close ended must
 * arrive anyway (the loser is drained): one that does not is a violation. Messages on sessions a
 * crash, reset or cut ended may be lost; they are counted, not blamed.
 */
export class Ledger {
  readonly #world: World
  readonly #rng: Rng
  readonly #sent = new Map<number, Sent>()
  readonly #delivered = new Set<number>()
  /** "node sessionId" → how that node's end of the session closed. */
  readonly #closedAs = new Map<string, string>()
  /** Session id → when an end first chose it as a dedup loser (its drain began). */
  readonly #loserSince = new Map<string, number>()
  #next = 0
  sendFailures = 0

  constructor(world: World, rng: Rng) {
    this.#world = world
    this.#rng = rng
    world.onNode((sim, node) => {
      node.on('message', (m) => {
        const id = Buffer.from(m.data).readUInt32BE(0)
        this.#delivered.add(id)
      })
      node.on('session:close', (e) => this.#closedAs.set(`${sim.index} ${e.session.sessionId}`, e.reason))
      node.on('session:duplicate', (e) => {
        if (!this.#loserSince.has(e.sessionId)) this.#loserSince.set(e.sessionId, this.#world.now)
      })
    })
  }

  get sent(): number {
    return this.#sent.size
  }

  get delivered(): number {
    return this.#delivered.size
  }

  /** Sends one message over a random configured pair whose sender has a session now. */
  sendOne(): void {
    const pairs = this.#world.pairs
    if (pairs.length === 0) return
    const [a, b] = pairs[this.#rng.int(pairs.length)] as [number, number]
    const [from, to] = this.#rng.float() < 0.5 ? [a, b] : [b, a]
    const sender = this.#world.nodes[from]?.node
    const receiver = this.#world.nodes[to]
    if (sender === undefined || receiver === undefined) return
    const session = sender.sessionFor(receiver.identity.nodeId)
    // Only on a confirmed session: one still being set up may fail (a confirm-timeout) and take
    // what was sent on it along, which is no dedup loss.
    if (session === undefined || session.state !== 'open') return
    const id = this.#next++
    const payload = Buffer.alloc(8)
    payload.writeUInt32BE(id, 0)
    payload.writeUInt32BE(from, 4)
    try {
      sender.send(receiver.identity.nodeId, payload)
      this.#sent.set(id, { from, to, sessionId: session.sessionId, at: this.#world.now })
    } catch {
      this.sendFailures++
    }
  }

  /**
   * Messages not delivered, by how the sender's end of their session closed ('open' if it has not):
   * a session the sender closed as a dedup loser must have delivered what it carried.
   */
  lost(): { byReason: Record<string, number>; toDedup: Sent[]; onOpen: Sent[] } {
    const byReason: Record<string, number> = {}
    const toDedup: Sent[] = []
    const onOpen: Sent[] = []
    for (const [id, m] of this.#sent) {
      if (this.#delivered.has(id)) continue
      const reason = this.#closedAs.get(`${m.from} ${m.sessionId}`) ?? 'open'
      byReason[reason] = (byReason[reason] ?? 0) + 1
      // Unless a fault hit the pair while the loser drained or after the message was sent: a reset
      // or crash kills a draining loser too, and a cut outlasting the drain ends it unflushed.
      const since = Math.min(m.at, this.#loserSince.get(m.sessionId) ?? m.at)
      if (reason === 'duplicate' && !this.#world.disruptedSince(m.from, m.to, since)) toDedup.push(m)
      if (reason === 'open') onOpen.push(m)
    }
    return { byReason, toDedup, onOpen }
  }
}
