import type { Dialing, Link, LinkHandlers, Listener, Transport } from '@peerhouse/node'
import type { Rng } from './rng.ts'
import type { Scheduler, Task } from './scheduler.ts'

/** How a link between two hosts behaves. */
export interface LinkProfile {
  /** One-way delay. */
  readonly latencyMs: number
  /** Added to each chunk's delay, uniform in [0, jitterMs); never reorders a stream. */
  readonly jitterMs: number
  /** Bytes per millisecond each way (125,000 ≈ 1 Gbit/s). */
  readonly bytesPerMs: number
  /** Chance that a chunk is lost once and retransmitted after `retransmitMs` (TCP does not lose bytes). */
  readonly loss: number
}

/** Bytes a receiver holds for a reader that paused, plus what is in flight: TCP's window, roughly. */
const WINDOW_BYTES = 256 * 1024
/** write() returns false once this much is queued, as node:net's default highWaterMark. */
const HIGH_WATER_BYTES = 16 * 1024
const RETRANSMIT_MS = 200

const DATA = 0
const FIN = 1
const RST = 2
const NO_BYTES = new Uint8Array(0)

/**
 * What one end sends the other (bytes, a FIN or a RST), and its own delivery event: one object per
 * chunk in flight rather than an item, a closure and a handle.
 */
class Item implements Task {
  readonly to: SimEnd
  readonly kind: typeof DATA | typeof FIN | typeof RST
  readonly bytes: Uint8Array

  constructor(to: SimEnd, kind: typeof DATA | typeof FIN | typeof RST, bytes: Uint8Array) {
    this.to = to
    this.kind = kind
    this.bytes = bytes
  }

  run(): void {
    this.to.receive(this)
  }
}

/** One direction of a link: what one end sends the other, in order. */
class Direction {
  readonly queue: Uint8Array[] = []
  queued = 0
  inFlight = 0
  busyUntil = 0
  lastArrival = 0
  /** Items that would have arrived while the two hosts were cut apart: delivered, in order, at the heal. */
  readonly held: Item[] = []
  finWanted = false
  finSent = false
  finDelivered = false
  needDrain = false
}

/** Counters over the whole network, for reports. */
export interface NetworkStats {
  connects: number
  refused: number
  timedOut: number
  bytes: number
  chunks: number
  resets: number
}

/**
 * The simulated network: hosts by IP, listeners by IP and port, and links that carry bytes with
 * latency, jitter, bandwidth, loss (as retransmission delay), TCP-like flow control, FIN and RST,
 * and cuts between hosts (a partition, or a blackholed host) that hold bytes until the heal. Every
 * delivery is an event of the one scheduler, so the network is as deterministic as its seed.
 */
export class SimNetwork {
  readonly scheduler: Scheduler
  readonly #rng: Rng
  readonly #profile: (a: string, b: string) => LinkProfile
  readonly #listeners = new Map<string, (end: SimEnd) => void>()
  readonly #ports = new Map<string, number>()
  /**
   * The cuts in force: each cuts every host of one side from every host of the other. Kept as the
   * two sides, not as host pairs: a partition of 10,000 hosts would be 25 million pairs.
   */
  readonly #cuts: { readonly left: ReadonlySet<string>; readonly right: ReadonlySet<string> }[] = []
  /** Moves at every partition and heal: a link's cached answer to cut() is good while it stands. */
  cutEpoch = 0
  readonly #links = new Set<SimPair>()
  readonly stats: NetworkStats = { connects: 0, refused: 0, timedOut: 0, bytes: 0, chunks: 0, resets: 0 }

  constructor(scheduler: Scheduler, rng: Rng, profile: (a: string, b: string) => LinkProfile) {
    this.scheduler = scheduler
    this.#rng = rng
    this.#profile = profile
  }

  /** The Transport of a node on host `ip`. */
  transport(ip: string): Transport {
    return {
      listen: async (host, port, accept): Promise<Listener> =>
        this.#listen(host === '0.0.0.0' ? ip : host, port, accept),
      connect: (host, port, timeoutMs, on) => this.#connect(ip, host, port, timeoutMs, on),
    }
  }

  /** Links open now (for the bounded-resources invariant). */
  get openLinks(): number {
    return this.#links.size
  }

  cut(a: string, b: string): boolean {
    if (this.#cuts.length === 0 || a === b) return false
    for (const { left, right } of this.#cuts) {
      if ((left.has(a) && right.has(b)) || (left.has(b) && right.has(a))) return true
    }
    return false
  }

  /** Cuts every host of `left` from every host of `right`: connects time out, bytes wait. */
  partition(left: readonly string[], right: readonly string[]): void {
    this.#cuts.push({ left: new Set(left), right: new Set(right) })
    this.cutEpoch++
  }

  /** Removes every cut; what was held is delivered, in order, from now. */
  heal(): void {
    this.#cuts.length = 0
    this.cutEpoch++
    for (const pair of this.#links) pair.release()
  }

  /** Resets every link between `a` and `b` (both ends see an error, then close). */
  reset(a: string, b: string): number {
    let n = 0
    for (const pair of [...this.#links]) {
      if ((pair.a.host === a && pair.b.host === b) || (pair.a.host === b && pair.b.host === a)) {
        pair.a.fail('ECONNRESET')
        pair.b.fail('ECONNRESET')
        n++
      }
    }
    this.stats.resets += n
    return n
  }

  #listen(ip: string, port: number, accept: (link: Link) => void): Listener {
    const p = port === 0 ? this.#ephemeral(ip) : port
    const key = `${ip}:${p}`
    if (this.#listeners.has(key)) throw Object.assign(new Error(`listen EADDRINUSE ${key}`), { code: 'EADDRINUSE' })
    this.#listeners.set(key, accept)
    return {
      port: p,
      close: async () => {
        if (this.#listeners.get(key) === accept) this.#listeners.delete(key)
      },
    }
  }

  #ephemeral(ip: string): number {
    const next = (this.#ports.get(ip) ?? 40_000) + 1
    this.#ports.set(ip, next)
    return next
  }

  #connect(
    from: string,
    host: string,
    port: number,
    timeoutMs: number,
    on: { connected(link: Link): void; failed(why: string): void },
  ): Dialing {
    this.stats.connects++
    const profile = this.#profile(from, host)
    const rtt = 2 * profile.latencyMs
    let done = false
    const finish = (fn: () => void) => {
      if (done) return
      done = true
      fn()
    }
    const timer = this.scheduler.after(timeoutMs, () =>
      finish(() => {
        this.stats.timedOut++
        on.failed('connect timeout')
      }),
    )
    this.scheduler.after(rtt, () => {
      if (done) return
      if (this.cut(from, host)) return // the SYN is lost: the dial times out
      const accept = this.#listeners.get(`${host}:${port}`)
      timer.cancel()
      if (accept === undefined) {
        finish(() => {
          this.stats.refused++
          on.failed(`connect ECONNREFUSED ${host}:${port}`)
        })
        return
      }
      finish(() => {
        const pair = new SimPair(
          this,
          from,
          this.#ephemeral(from),
          host,
          port,
          profile,
          this.#rng.fork(this.stats.connects),
        )
        this.#links.add(pair)
        accept(pair.b)
        on.connected(pair.a)
      })
    })
    return {
      abort: () =>
        finish(() => {
          timer.cancel()
          on.failed('aborted')
        }),
    }
  }

  /** A link is gone at both ends. */
  forget(pair: SimPair): void {
    this.#links.delete(pair)
  }

  countChunk(bytes: number): void {
    this.stats.chunks++
    this.stats.bytes += bytes
  }
}

/** The two ends of one link. */
class SimPair {
  readonly net: SimNetwork
  readonly a: SimEnd
  readonly b: SimEnd
  readonly profile: LinkProfile
  readonly rng: Rng
  #cutEpoch = -1
  #cut = false

  constructor(
    net: SimNetwork,
    fromHost: string,
    fromPort: number,
    toHost: string,
    toPort: number,
    profile: LinkProfile,
    rng: Rng,
  ) {
    this.net = net
    this.profile = profile
    this.rng = rng
    this.a = new SimEnd(this, fromHost, fromPort, toHost, toPort)
    this.b = new SimEnd(this, toHost, toPort, fromHost, fromPort)
    this.a.peer = this.b
    this.b.peer = this.a
  }

  /** Whether the two hosts are cut apart now (asked at every chunk's arrival: cached until the cuts change). */
  isCut(): boolean {
    const net = this.net
    if (this.#cutEpoch !== net.cutEpoch) {
      this.#cutEpoch = net.cutEpoch
      this.#cut = net.cut(this.a.host, this.b.host)
    }
    return this.#cut
  }

  /** After a heal: what each direction held is delivered from now. */
  release(): void {
    this.a.releaseHeld()
    this.b.releaseHeld()
  }

  closedBoth(): void {
    if (this.a.closed && this.b.closed) this.net.forget(this)
  }
}

/** One end of a link: the Link a node holds. */
export class SimEnd implements Link {
  readonly pair: SimPair
  readonly host: string
  readonly remoteAddress: string
  readonly localAddress: string
  peer!: SimEnd
  /** What this end sends. */
  readonly out = new Direction()
  #h?: LinkHandlers
  #corked = 0
  /** Writes held while corked (reused: a node corks around every chunk it reads). */
  readonly #cork: Uint8Array[] = []
  #paused = false
  #reading = true
  /** Arrived while paused (or before bind). */
  readonly #buffered: Item[] = []
  #bufferedBytes = 0
  #destroyed = false
  #destroyAfterFin = false
  closed = false
  gotFin = false

  constructor(pair: SimPair, host: string, port: number, remoteHost: string, remotePort: number) {
    this.pair = pair
    this.host = host
    this.localAddress = `${host}:${port}`
    this.remoteAddress = `${remoteHost}:${remotePort}`
  }

  get #s(): Scheduler {
    return this.pair.net.scheduler
  }

  get queuedBytes(): number {
    return this.out.queued + this.#corkedBytes()
  }

  #corkedBytes(): number {
    let n = 0
    for (const c of this.#cork) n += c.length
    return n
  }

  get writable(): boolean {
    return !this.#destroyed && !this.out.finWanted
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  bind(handlers: LinkHandlers): void {
    this.#h = handlers
    if (this.#buffered.length > 0 && !this.#paused) this.#s.after(0, () => this.#flushBuffered())
  }

  write(bytes: Uint8Array): boolean {
    if (!this.writable) return false
    if (this.#corked > 0) this.#cork.push(bytes)
    else this.#enqueue(bytes)
    const full = this.queuedBytes >= HIGH_WATER_BYTES
    if (full) this.out.needDrain = true
    return !full
  }

  cork(): void {
    this.#corked++
  }

  uncork(): void {
    if (this.#corked === 0) return
    this.#corked--
    if (this.#corked > 0 || this.#cork.length === 0) return
    this.#enqueue(this.#takeCorked())
  }

  /** What was written while corked, as one chunk (one writev). */
  #takeCorked(): Uint8Array {
    const parts = this.#cork
    const out = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
    parts.length = 0
    return out
  }

  end(thenDestroy = false): void {
    if (this.#destroyed) return
    this.#corked = 0
    if (this.#cork.length > 0) this.#enqueue(this.#takeCorked())
    this.out.finWanted = true
    if (thenDestroy) this.#destroyAfterFin = true
    this.#transmit()
  }

  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.out.queue.length = 0
    this.out.queued = 0
    const peer = this.peer
    const rstAt = Math.max(this.out.lastArrival, this.#s.now + this.pair.profile.latencyMs) - this.#s.now
    this.#s.after(0, () => this.#closeLocal())
    this.#s.schedule(rstAt, new Item(peer, RST, NO_BYTES))
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#s.after(0, () => this.#flushBuffered())
  }

  stopReading(): void {
    this.#reading = false
  }

  /** A reset from the network (a fault). */
  fail(code: string): void {
    if (this.closed) return
    this.#destroyed = true
    this.#s.after(0, () => {
      if (this.closed) return
      this.#h?.error(Object.assign(new Error(`read ${code}`), { code }))
      this.#closeLocal()
    })
  }

  #reset(): void {
    if (this.closed) return
    this.#destroyed = true
    if (!this.gotFin) this.#h?.error(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    this.#closeLocal()
  }

  #closeLocal(): void {
    if (this.closed) return
    this.closed = true
    this.#destroyed = true
    this.#h?.close()
    this.pair.closedBoth()
  }

  #enqueue(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.out.queue.push(bytes)
    this.out.queued += bytes.length
    this.#transmit()
  }

  /** Sends what the window allows: each chunk takes size / bandwidth, then the latency (and jitter). */
  #transmit(): void {
    const out = this.out
    const p = this.pair.profile
    const now = this.#s.now
    while (out.queue.length > 0) {
      const held = out.inFlight + this.peer.#bufferedBytes
      const next = out.queue[0] as Uint8Array
      // Flow control: past the window nothing more leaves until the peer reads (one chunk may exceed it alone).
      if (held > 0 && held + next.length > WINDOW_BYTES) break
      out.queue.shift()
      out.queued -= next.length
      out.inFlight += next.length
      this.pair.net.countChunk(next.length)
      const start = Math.max(now, out.busyUntil)
      out.busyUntil = start + next.length / p.bytesPerMs
      let arrival = out.busyUntil + p.latencyMs + (p.jitterMs > 0 ? this.pair.rng.float() * p.jitterMs : 0)
      if (p.loss > 0 && this.pair.rng.float() < p.loss) arrival += RETRANSMIT_MS
      arrival = Math.max(arrival, out.lastArrival)
      out.lastArrival = arrival
      this.#s.schedule(arrival - now, new Item(this.peer, DATA, next))
    }
    if (out.needDrain && this.queuedBytes < HIGH_WATER_BYTES) {
      out.needDrain = false
      this.#s.after(0, () => {
        if (!this.closed) this.#h?.drain()
      })
    }
    if (out.queue.length === 0 && out.finWanted && !out.finSent && !this.#destroyed) {
      out.finSent = true
      const arrival = Math.max(out.lastArrival, out.busyUntil + p.latencyMs)
      out.lastArrival = arrival
      this.#s.schedule(arrival - now, new Item(this.peer, FIN, NO_BYTES))
      if (this.#destroyAfterFin) this.#s.after(Math.max(0, out.busyUntil - now), () => this.destroy())
    }
  }

  /** An item from the peer reached this host (unless the hosts are cut apart now). Only the network calls it. */
  receive(item: Item): void {
    if (this.closed) return
    const from = this.peer
    // Cut off, or behind what the cut held: wait, in order, for the heal.
    if (from.out.held.length > 0 || this.pair.isCut()) {
      from.out.held.push(item)
      return
    }
    this.#arriveNow(item)
  }

  #arriveNow(item: Item): void {
    if (this.closed) return
    const from = this.peer
    if (item.kind === RST) {
      this.#reset()
      return
    }
    if (this.#destroyed) return
    if (item.kind === DATA) from.out.inFlight -= item.bytes.length
    if (this.#paused || this.#h === undefined || this.#buffered.length > 0) {
      this.#buffered.push(item)
      if (item.kind === DATA) this.#bufferedBytes += item.bytes.length
      return
    }
    this.#deliver(item)
  }

  #deliver(item: Item): void {
    if (this.closed || item.kind === RST) return
    const h = this.#h as LinkHandlers
    if (item.kind === DATA) {
      if (this.#reading) h.data(item.bytes)
      this.peer.#transmit() // the window opened
      return
    }
    this.gotFin = true
    this.peer.out.finDelivered = true
    h.end()
    // node:net without allowHalfOpen: our own FIN follows once what we queued is out.
    if (!this.out.finWanted) this.end()
    if (this.out.finDelivered) this.#bothFins()
  }

  #flushBuffered(): void {
    while (this.#buffered.length > 0 && !this.#paused && this.#h !== undefined && !this.closed) {
      const item = this.#buffered.shift() as Item
      if (item.kind === DATA) this.#bufferedBytes -= item.bytes.length
      this.#deliver(item)
    }
  }

  /** Both FINs were delivered: each end closes. */
  #bothFins(): void {
    this.#s.after(0, () => {
      this.#closeLocal()
      this.peer.#closeLocal()
    })
  }

  /** After a heal: what waited at the cut arrives, in order, one latency from now (unless cut again). */
  releaseHeld(): void {
    if (this.out.held.length === 0) return
    this.#s.after(this.pair.profile.latencyMs, () => {
      if (this.pair.isCut()) return
      const items = this.out.held.splice(0)
      for (const item of items) this.peer.#arriveNow(item)
    })
  }
}
