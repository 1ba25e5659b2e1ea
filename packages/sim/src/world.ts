import { Node, type NodeInit, type Random, type TestOnlyBreaks } from '@peerhouse/node'
import { formatAddress, type Identity, identityFromSecretKey } from '@peerhouse/protocol'
import { Rng } from './rng.ts'
import { Scheduler } from './scheduler.ts'
import { SimClock } from './sim-clock.ts'
import { type LinkProfile, SimNetwork } from './sim-network.ts'
import { pairsOf, type SimTopology } from './topology.ts'
import { Trace } from './trace.ts'

export interface WorldInit {
  readonly seed: number
  readonly nodes: number
  readonly topology: SimTopology
  /** Hosts (IPs) the nodes are spread over, round robin; several nodes per host share its IP. @default nodes */
  readonly hosts?: number
  /** One-way latency between two hosts, drawn once per host pair in [min, max). @default [1, 10] */
  readonly latencyMs?: readonly [number, number]
  readonly jitterMs?: number
  readonly loss?: number
  /** Node options for every node (timings, caps). */
  readonly node?: Partial<NodeInit>
  readonly testOnlyBreaks?: TestOnlyBreaks
  /** The nodes' secret keys (32 bytes each), e.g. to run the same identities as a real-socket test; drawn from the seed when absent. */
  readonly secretKeys?: readonly Uint8Array[]
}

/** One simulated node: its fixed identity, address and the Node of its current life (none while down). */
export interface SimNode {
  readonly index: number
  readonly identity: Identity
  readonly ip: string
  readonly port: number
  readonly address: string
  node?: Node
  clock: SimClock
  lives: number
  /** Configured peers (indexes). */
  readonly peers: number[]
}

const SAME_HOST: LinkProfile = { latencyMs: 0.05, jitterMs: 0, bytesPerMs: 1_000_000, loss: 0 }

/** The whole simulated system: scheduler, network, nodes and the trace of what happened. */
export class World {
  readonly init: WorldInit
  readonly scheduler = new Scheduler()
  readonly rng: Rng
  readonly network: SimNetwork
  readonly trace = new Trace()
  readonly nodes: SimNode[] = []
  readonly pairs: [number, number][]
  readonly #byId = new Map<string, number>()
  readonly #profiles = new Map<string, LinkProfile>()
  /** Listeners every node life gets (the ledger and the invariants subscribe here). */
  readonly #hooks: ((sim: SimNode, node: Node) => void)[] = []
  /** Sim time of the last disruption (a crash, restart, cut, heal or reset). */
  lastDisruption = 0
  /** Per node: sim time it last crashed or restarted. */
  readonly #nodeHit: number[] = []
  /** Per host pair "ipA|ipB": sim time its links were last reset. */
  readonly #linkHit = new Map<string, number>()
  /** Sim time of the last partition or heal. */
  #cutHit = Number.NEGATIVE_INFINITY
  /** Set by an action that started promises (a node's start): the run lets them settle before going on. */
  #pendingAsync = false

  constructor(init: WorldInit) {
    this.init = init
    this.rng = new Rng(init.seed)
    const topoRng = this.rng.fork(1)
    const linkRng = this.rng.fork(2)
    this.network = new SimNetwork(this.scheduler, this.rng.fork(3), (a, b) => this.#profile(a, b, linkRng))
    const keys = this.rng.fork(4)
    const hosts = Math.max(1, Math.min(init.hosts ?? init.nodes, init.nodes))
    for (let i = 0; i < init.nodes; i++) {
      const identity = identityFromSecretKey(init.secretKeys?.[i] ?? keys.bytes(32))
      const h = i % hosts
      const ip = `10.${(h >> 16) & 255}.${(h >> 8) & 255}.${(h & 255) + 1}`
      const port = 30301 + Math.floor(i / hosts)
      const sim: SimNode = {
        index: i,
        identity,
        ip,
        port,
        address: formatAddress({ nodeId: identity.nodeId, host: ip, port }),
        clock: new SimClock(this.scheduler),
        lives: 0,
        peers: [],
      }
      this.nodes.push(sim)
      this.#byId.set(identity.nodeId, i)
    }
    this.pairs = pairsOf(init.nodes, init.topology, topoRng)
    for (const [a, b] of this.pairs) {
      this.nodes[a]?.peers.push(b)
      this.nodes[b]?.peers.push(a)
    }
  }

  get now(): number {
    return this.scheduler.now
  }

  /** The index of a node id (undefined for ids no simulated node has, e.g. a spoofer's). */
  indexOf(nodeId: string): number | undefined {
    return this.#byId.get(nodeId)
  }

  onNode(hook: (sim: SimNode, node: Node) => void): void {
    this.#hooks.push(hook)
  }

  #profile(a: string, b: string, rng: Rng): LinkProfile {
    if (a === b) return SAME_HOST
    const key = a < b ? `${a}|${b}` : `${b}|${a}`
    let p = this.#profiles.get(key)
    if (p === undefined) {
      const [min, max] = this.init.latencyMs ?? [1, 10]
      p = {
        latencyMs: min + rng.float() * (max - min),
        jitterMs: this.init.jitterMs ?? 0,
        bytesPerMs: 125_000,
        loss: this.init.loss ?? 0,
      }
      this.#profiles.set(key, p)
    }
    return p
  }

  /** Starts node `i`'s next life: same key and port, a larger incarnation, its configured peers. */
  async start(i: number): Promise<void> {
    const sim = this.nodes[i] as SimNode
    if (sim.node !== undefined) return
    this.#pendingAsync = true
    if (sim.lives > 0) {
      this.lastDisruption = this.now
      this.#nodeHit[i] = this.now
      this.trace.add(this.now, `restart ${i}`, [i])
    }
    sim.lives++
    sim.clock = new SimClock(this.scheduler)
    const rng = this.rng.fork(1000 + i * 7919 + sim.lives)
    const random: Random = { bytes: (n) => rng.bytes(n), float: () => rng.float() }
    const node = new Node({
      ...this.init.node,
      identity: sim.identity,
      // Microseconds of sim time, and larger at every life, as the real boot number is.
      incarnation: 1_700_000_000_000_000n + BigInt(Math.round(this.now * 1000)) * 16n + BigInt(sim.lives),
      host: sim.ip,
      port: sim.port,
      clock: sim.clock,
      random,
      transport: this.network.transport(sim.ip),
      peers: sim.peers.map((j) => (this.nodes[j] as SimNode).address),
      testOnlyBreaks: this.init.testOnlyBreaks,
    })
    sim.node = node
    this.#watch(sim, node)
    for (const hook of this.#hooks) hook(sim, node)
    await node.start()
  }

  /** Node `i` dies at once: its links are reset, its process gone. */
  crash(i: number): void {
    const sim = this.nodes[i] as SimNode
    const node = sim.node
    if (node === undefined) return
    sim.node = undefined
    this.lastDisruption = this.now
    this.#nodeHit[i] = this.now
    this.trace.add(this.now, `crash ${i}`, [i])
    this.#pendingAsync = true
    void node.stop({ graceful: false })
  }

  partition(left: readonly number[], right: readonly number[]): void {
    const ips = (xs: readonly number[]) => [...new Set(xs.map((i) => (this.nodes[i] as SimNode).ip))]
    this.network.partition(ips(left), ips(right))
    this.lastDisruption = this.now
    this.#cutHit = this.now
    this.trace.add(this.now, `partition ${left.length}|${right.length}`, [])
  }

  heal(): void {
    this.network.heal()
    this.lastDisruption = this.now
    this.#cutHit = this.now
    this.trace.add(this.now, 'heal', [])
  }

  /** Resets every link between the hosts of nodes `a` and `b` (both ends see a reset); false if there was none. */
  reset(a: number, b: number): boolean {
    const x = this.nodes[a] as SimNode
    const y = this.nodes[b] as SimNode
    if (x.ip === y.ip || this.network.reset(x.ip, y.ip) === 0) return false
    this.lastDisruption = this.now
    this.#linkHit.set(x.ip < y.ip ? `${x.ip}|${y.ip}` : `${y.ip}|${x.ip}`, this.now)
    this.trace.add(this.now, `reset ${a} ${b}`, [a, b])
    return true
  }

  /** True when a fault (crash, restart, reset, partition, heal) touched the pair (a, b) at or after `since`. */
  disruptedSince(a: number, b: number, since: number): boolean {
    const x = this.nodes[a] as SimNode
    const y = this.nodes[b] as SimNode
    const link = this.#linkHit.get(x.ip < y.ip ? `${x.ip}|${y.ip}` : `${y.ip}|${x.ip}`) ?? Number.NEGATIVE_INFINITY
    const hit = Math.max(this.#nodeHit[a] ?? -1, this.#nodeHit[b] ?? -1, link, this.#cutHit)
    return hit >= since
  }

  /** True when nodes `a` and `b` can reach each other now. */
  reachable(a: number, b: number): boolean {
    const x = this.nodes[a] as SimNode
    const y = this.nodes[b] as SimNode
    return x.node !== undefined && y.node !== undefined && !this.network.cut(x.ip, y.ip)
  }

  #watch(sim: SimNode, node: Node): void {
    const i = sim.index
    const idx = (id: string) => this.#byId.get(id) ?? -1
    node.on('session:open', (row) => {
      const j = idx(row.remoteNodeId)
      this.trace.add(this.now, `open ${i} ${j} ${row.sessionId} by ${idx(row.initiator)}`, [i, j])
    })
    node.on('session:close', (e) => {
      const j = idx(e.session.remoteNodeId)
      const who = e.byPeer ? 'peer' : 'self'
      this.trace.add(this.now, `close ${i} ${j} ${e.session.sessionId} ${e.reason} ${who}`, [i, j])
    })
    node.on('session:duplicate', (e) => {
      const j = idx(e.remoteNodeId)
      this.trace.add(this.now, `duplicate ${i} ${j} ${e.sessionId} winner ${e.winner}`, [i, j])
    })
    node.on('handshake:error', (e) => {
      const j = e.remoteNodeId === undefined ? -1 : idx(e.remoteNodeId)
      this.trace.add(this.now, `hs-error ${i} ${j} ${e.reason}${e.byPeer ? ' peer' : ''}`, j < 0 ? [i] : [i, j])
    })
  }

  /**
   * Runs the simulation until `until` (sim ms). Between events it lets promises settle only when
   * the event queue is empty at the current time or every `yieldEvery` events, so that what a
   * scenario awaits (a node's start) goes on in sim time, deterministically.
   */
  async runUntil(until: number, yieldEvery = 2000): Promise<void> {
    let n = 0
    for (;;) {
      const next = this.scheduler.peek()
      if (next === undefined || next > until) break
      this.scheduler.step(until)
      if (this.#pendingAsync || ++n % yieldEvery === 0) {
        this.#pendingAsync = false
        await settle()
      }
    }
    await settle()
    this.scheduler.advanceTo(until)
  }
}

/** Lets every pending promise callback run (a macrotask turn), without moving sim time. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
