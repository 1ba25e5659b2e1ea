/**
 * Tools for the timing tests (timers-*.test.ts): they run the real Node in a World and read every
 * time off the simulation's one scheduler, so each expected time is computed from the options and
 * holds exactly, whatever the machine's load.
 *
 * - `tap(world)` records, per host, every connect and every link (bytes read, link closed) with
 *   its sim time, by wrapping the Transport the World hands its nodes (instance-level: nothing in
 *   src changes).
 * - `Probe` is a scripted peer on a host of its own: it speaks the real handshake, codec and
 *   cipher (packages/protocol) up to a chosen stage and then stays silent, stalls, answers PINGs
 *   or sends messages, and records every frame the node sends it with its arrival time.
 * - `withBreak(opts)` lets a run prove that the tests can fail: TIMERS_BREAK="name=value,…" changes
 *   those node options after the expectations were computed from the real ones.
 */
import type { Link, LinkHandlers, NodeInit, Transport } from '@peerhouse/node'
import {
  type CloseReason,
  decodeClose,
  FrameDecoder,
  Handshake,
  type Identity,
  identityFromSecretKey,
  MAX_FRAME_BODY,
  MESSAGE_TYPES,
  SessionCipher,
} from '@peerhouse/protocol'
import { expect } from 'vitest'
import { Rng, type SimNode, World } from '../src/index.ts'

/** Small frames take ~0.001 ms on a simulated 1 Gbit/s link: times are exact to well within this. */
export const EPS = 0.01

/** `actual` is `expected`, up to the transmission time of small frames. */
export function expectAt(actual: number | undefined, expected: number): void {
  expect(actual).toBeDefined()
  expect(Math.abs((actual as number) - expected)).toBeLessThan(EPS)
}

/** `actual` lies in [lo, hi] (inclusive, in sim ms). */
export function expectWithin(actual: number | undefined, lo: number, hi: number): void {
  expect(actual).toBeDefined()
  expect(actual).toBeGreaterThanOrEqual(lo)
  expect(actual).toBeLessThanOrEqual(hi)
}

/** With TIMERS_LOG=1, prints what a test observed (expected window and sim times) for a report. */
export function note(label: string, values: Record<string, unknown>): void {
  if (process.env.TIMERS_LOG) console.log(`[timers] ${label} ${JSON.stringify(values)}`)
}

/** The node options of a test, changed by TIMERS_BREAK when a run proves the assertions can fail. */
export function withBreak(opts: Partial<NodeInit>): Partial<NodeInit> {
  const spec = process.env.TIMERS_BREAK
  if (spec === undefined || spec === '') return opts
  const out: Record<string, unknown> = { ...opts }
  for (const part of spec.split(',')) {
    const [name, value] = part.split('=')
    if (name !== undefined && value !== undefined && name in opts) out[name] = Number(value)
  }
  return out as Partial<NodeInit>
}

/** One-way latency of every simulated link in these tests: exact, no jitter, no loss. */
export const LATENCY_MS = 5

/** A World of `nodes` nodes (full mesh of configured peers) whose links all take exactly LATENCY_MS. */
export function timedWorld(nodes: number, node: Partial<NodeInit>, seed = 1): World {
  return new World({ seed, nodes, topology: { kind: 'full-mesh' }, latencyMs: [LATENCY_MS, LATENCY_MS], node })
}

/** What a node emitted, with the sim time it emitted it at. */
export interface Seen {
  readonly at: number
  readonly node: number
  readonly kind: 'open' | 'close' | 'hs-error'
  readonly reason?: string
  readonly byPeer?: boolean
  readonly direction?: string
  readonly remoteNodeId?: string
  readonly claimedNodeId?: string
}

/** Every session:open, session:close and handshake:error of every node life, in order. Call before the starts. */
export function record(world: World): Seen[] {
  const seen: Seen[] = []
  world.onNode((sim, node) => {
    const index = sim.index
    node.on('session:open', (r) =>
      seen.push({ at: world.now, node: index, kind: 'open', remoteNodeId: r.remoteNodeId }),
    )
    node.on('session:close', (e) =>
      seen.push({ at: world.now, node: index, kind: 'close', reason: e.reason, byPeer: e.byPeer }),
    )
    node.on('handshake:error', (e) =>
      seen.push({
        at: world.now,
        node: index,
        kind: 'hs-error',
        reason: e.reason,
        byPeer: e.byPeer,
        direction: e.direction,
        remoteNodeId: e.remoteNodeId,
        claimedNodeId: e.claimedNodeId,
      }),
    )
  })
  return seen
}

// --- the tap -------------------------------------------------------------------------------

export interface ConnectRecord {
  readonly at: number
  readonly to: string
  /** When connected or failed was called. */
  doneAt?: number
  outcome?: 'connected' | 'failed'
}

export interface LinkRecord {
  readonly direction: 'outbound' | 'inbound'
  readonly openedAt: number
  readonly remote: string
  /** Sim time of every chunk delivered to the node. */
  readonly reads: number[]
  closedAt?: number
}

export interface HostTap {
  readonly connects: ConnectRecord[]
  readonly links: LinkRecord[]
}

/** Records every node's connects and links, per IP. Call before the nodes start. */
export function tap(world: World): Map<string, HostTap> {
  const hosts = new Map<string, HostTap>()
  const net = world.network
  const original = net.transport.bind(net)
  const now = () => world.now
  net.transport = (ip: string): Transport => {
    const inner = original(ip)
    let host = hosts.get(ip)
    if (host === undefined) {
      host = { connects: [], links: [] }
      hosts.set(ip, host)
    }
    const h = host
    const wrap = (link: Link, direction: LinkRecord['direction']): Link => {
      const rec: LinkRecord = { direction, openedAt: now(), remote: link.remoteAddress, reads: [] }
      h.links.push(rec)
      return tappedLink(link, rec, now)
    }
    return {
      listen: (host, port, accept) => inner.listen(host, port, (link) => accept(wrap(link, 'inbound'))),
      connect: (host, port, timeoutMs, on) => {
        const rec: ConnectRecord = { at: now(), to: `${host}:${port}` }
        h.connects.push(rec)
        return inner.connect(host, port, timeoutMs, {
          connected: (link) => {
            rec.doneAt = now()
            rec.outcome = 'connected'
            on.connected(wrap(link, 'outbound'))
          },
          failed: (why) => {
            rec.doneAt = now()
            rec.outcome = 'failed'
            on.failed(why)
          },
        })
      },
    }
  }
  return hosts
}

function tappedLink(inner: Link, rec: LinkRecord, now: () => number): Link {
  return {
    get remoteAddress() {
      return inner.remoteAddress
    },
    get localAddress() {
      return inner.localAddress
    },
    get queuedBytes() {
      return inner.queuedBytes
    },
    get writable() {
      return inner.writable
    },
    get destroyed() {
      return inner.destroyed
    },
    bind: (h: LinkHandlers) =>
      inner.bind({
        data: (chunk) => {
          rec.reads.push(now())
          h.data(chunk)
        },
        end: () => h.end(),
        error: (e) => h.error(e),
        close: () => {
          rec.closedAt = now()
          h.close()
        },
        drain: () => h.drain(),
      }),
    write: (bytes) => inner.write(bytes),
    cork: () => inner.cork(),
    uncork: () => inner.uncork(),
    end: (thenDestroy) => inner.end(thenDestroy),
    destroy: () => inner.destroy(),
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    stopReading: () => inner.stopReading(),
  }
}

/** The tap of node `i`'s host. */
export function hostOf(taps: Map<string, HostTap>, world: World, i: number): HostTap {
  const t = taps.get((world.nodes[i] as SimNode).ip)
  if (t === undefined) throw new Error(`node ${i} has not started`)
  return t
}

// --- the probe -----------------------------------------------------------------------------

/**
 * How far the probe goes: `silent` sends nothing; `hello` sends its HELLO (a listener answers
 * the dialer's HELLO with its own) and nothing more; `auth` completes the key proof but never
 * sends READY; `ready` holds a whole session.
 */
export type ProbeStage = 'silent' | 'hello' | 'auth' | 'ready'

export interface ProbeFrame {
  readonly at: number
  /** MESSAGE_TYPES value (HELLO, AUTH, CLOSE, READY, MESSAGE, PING, PONG). */
  readonly type: number
  readonly reason?: CloseReason
}

const STAGES: readonly ProbeStage[] = ['silent', 'hello', 'auth', 'ready']

let probeHosts = 0

/** A scripted peer on its own host (or, as a listener, on a down node's address). */
export class Probe {
  readonly world: World
  readonly identity: Identity
  readonly stage: ProbeStage
  /** Answer each PING with its PONG (a real node does); off, the probe never speaks after READY. */
  answerPings: boolean
  readonly frames: ProbeFrame[] = []
  link?: Link
  /** The host it dials from or listens on. */
  ip?: string
  /** Why its dial failed, if it did. */
  failed?: string
  connectedAt?: number
  closedAt?: number
  #hs?: Handshake
  #role: 'dialer' | 'listener' = 'dialer'
  #cipher?: SessionCipher
  readonly #decoder = new FrameDecoder(MAX_FRAME_BODY)
  readonly #rng: Rng

  constructor(world: World, opts: { stage: ProbeStage; answerPings?: boolean; identity?: Identity; seed?: number }) {
    this.world = world
    this.stage = opts.stage
    this.answerPings = opts.answerPings ?? false
    this.#rng = new Rng(opts.seed ?? 0x71e5)
    this.identity = opts.identity ?? identityFromSecretKey(this.#rng.bytes(32))
  }

  get nodeId(): string {
    return this.identity.nodeId
  }

  /** Frames of one type, in arrival order. */
  of(type: number): ProbeFrame[] {
    return this.frames.filter((f) => f.type === type)
  }

  #atLeast(stage: ProbeStage): boolean {
    return STAGES.indexOf(this.stage) >= STAGES.indexOf(stage)
  }

  #handshake(role: 'dialer' | 'listener', networkId: string): Handshake {
    this.#role = role
    return new Handshake({
      identity: this.identity,
      role,
      networkId,
      incarnation: 1n,
      random: (n) => this.#rng.bytes(n),
    })
  }

  /** Dials node `target` from a host of its own; the HELLO (if any) goes out on connect, as a real dialer's. */
  dial(target: SimNode): void {
    probeHosts++
    const ip = `10.200.0.${probeHosts}`
    this.ip = ip
    const networkId = target.node?.networkId ?? 'peerhouse-dev'
    this.world.network.transport(ip).connect(target.ip, target.port, 60_000, {
      connected: (link) => {
        this.#hs = this.#handshake('dialer', networkId)
        this.#bind(link)
        if (this.#atLeast('hello')) link.write(this.#hs.helloFrame())
      },
      failed: (why) => {
        this.failed = why
      },
    })
  }

  /** Listens at `host:port` (a node's address, with that node's identity) and takes one connection. */
  async listen(host: string, port: number, networkId = 'peerhouse-dev'): Promise<void> {
    this.ip = host
    await this.world.network.transport(host).listen(host, port, (link) => {
      if (this.link !== undefined) {
        link.destroy()
        return
      }
      this.#hs = this.#handshake('listener', networkId)
      this.#bind(link)
    })
  }

  /** One application message, encrypted as a node's. */
  send(payload: Uint8Array): void {
    const link = this.link
    if (link === undefined || this.#cipher === undefined) throw new Error('probe holds no session')
    link.write(this.#cipher.seal(MESSAGE_TYPES.message, payload))
  }

  #bind(link: Link): void {
    this.link = link
    this.connectedAt = this.world.now
    link.bind({
      data: (chunk) => {
        this.#decoder.push(chunk)
        for (let f = this.#decoder.next(); f !== undefined; f = this.#decoder.next()) this.#frame(f.header, f.body)
      },
      end() {},
      error() {},
      close: () => {
        this.closedAt = this.world.now
      },
      drain() {},
    })
  }

  #frame(header: Uint8Array, body: Uint8Array): void {
    const at = this.world.now
    const link = this.link as Link
    const plainClose = body.length === 18 && body[0] === MESSAGE_TYPES.close
    if (this.#cipher === undefined || plainClose) {
      if (body[0] === MESSAGE_TYPES.close) {
        this.frames.push({ at, type: MESSAGE_TYPES.close, reason: decodeClose(body).reason })
        return
      }
      this.frames.push({ at, type: body[0] as number })
      const hs = this.#hs as Handshake
      if (hs.state === 'done') return
      const step = hs.receive(body)
      if (step.kind === 'send') {
        // A listener answers the dialer's HELLO with its own HELLO, then AUTH.
        if (this.#role === 'listener' && this.#atLeast('hello')) link.write(hs.helloFrame())
        if (this.#atLeast('auth')) link.write(step.frame)
      } else if (step.kind === 'established') {
        this.#cipher = new SessionCipher(step.result.sendKey, step.result.recvKey)
        if (this.#atLeast('ready')) link.write(this.#cipher.seal(MESSAGE_TYPES.ready, new Uint8Array(0)))
      }
      return
    }
    const { type, payload } = this.#cipher.open(header, body)
    if (type === MESSAGE_TYPES.close) {
      const plain = new Uint8Array(18)
      plain[0] = MESSAGE_TYPES.close
      plain.set(payload, 1)
      this.frames.push({ at, type, reason: decodeClose(plain).reason })
      return
    }
    this.frames.push({ at, type })
    if (type === MESSAGE_TYPES.ping && this.answerPings) link.write(this.#cipher.seal(MESSAGE_TYPES.pong, payload))
  }
}
