import { EventEmitter } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * What the proxy does with connections it accepts from now on:
 * - `pass`: forward (after `delay`, if set);
 * - `drop`: accept, connect upstream, discard every byte both ways — on existing connections too;
 * - `blackhole`: accept and hold silent, no upstream: the dialer sees a connect and then nothing;
 * - `refuse`: reset at once.
 */
export type ProxyMode = 'pass' | 'drop' | 'blackhole' | 'refuse'

type Chunk = Buffer | 'end'

/**
 * Counts the frames in one direction of a peerhouse connection (PROTOCOL.md §3: a u32 big-endian
 * body length, then the body), so a test can count what a node sent — one PING per keepalive tick —
 * instead of timing it. Frames are counted when their last byte has passed.
 */
export class FrameCounter {
  frames = 0
  /** The length header read so far, and the body bytes still to pass. */
  #header = Buffer.alloc(4)
  #headerHave = 0
  #bodyLeft = 0

  feed(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, chunk.length - at)
        this.#bodyLeft -= take
        at += take
        if (this.#bodyLeft === 0) this.frames++
        continue
      }
      const take = Math.min(4 - this.#headerHave, chunk.length - at)
      chunk.copy(this.#header, this.#headerHave, at, at + take)
      this.#headerHave += take
      at += take
      if (this.#headerHave < 4) return
      this.#headerHave = 0
      this.#bodyLeft = this.#header.readUInt32BE(0)
      if (this.#bodyLeft === 0) this.frames++ // invalid on the wire (§3.1), but still one frame
    }
  }
}

/** What one end of a connection sent, and when the proxy last passed it a byte. */
class End {
  readonly sent = new FrameCounter()
  /** `sent.frames` when the connection went dark (0 for one dark from the start). */
  framesAtDark = 0
  lastDeliveredAt = performance.now()
}

/** One direction of one connection: an order-preserving delay line. */
class Pipe {
  readonly #to: Socket
  readonly #toEnd: End
  readonly #queue: { at: number; chunk: Chunk }[] = []
  #timer?: NodeJS.Timeout

  constructor(to: Socket, toEnd: End) {
    this.#to = to
    this.#toEnd = toEnd
  }

  push(chunk: Chunk, delayMs: number): void {
    if (delayMs <= 0 && this.#queue.length === 0) {
      this.#deliver(chunk)
      return
    }
    // Never before the chunk ahead of it, so a shortened delay cannot reorder the stream.
    const last = this.#queue.at(-1)?.at ?? 0
    this.#queue.push({ at: Math.max(last, performance.now() + delayMs), chunk })
    this.#arm()
  }

  clear(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#queue.length = 0
  }

  #arm(): void {
    const head = this.#queue[0]
    if (this.#timer !== undefined || head === undefined) return
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, head.at - performance.now()))
  }

  #flush(): void {
    this.#timer = undefined
    const now = performance.now()
    while (this.#queue.length > 0 && (this.#queue[0] as { at: number }).at <= now + 1) {
      this.#deliver((this.#queue.shift() as { chunk: Chunk }).chunk)
    }
    this.#arm()
  }

  #deliver(chunk: Chunk): void {
    if (this.#to.destroyed) return
    if (chunk === 'end') this.#to.end()
    else {
      this.#toEnd.lastDeliveredAt = performance.now()
      this.#to.write(chunk)
    }
  }
}

interface Pair {
  readonly down: Socket
  readonly up?: Socket
  readonly toUp?: Pipe
  readonly toDown: Pipe
  readonly ends: Record<'client' | 'target', End>
  /** Blackholed: nothing passes ever again, not even a FIN or a reset — as after a dead route. */
  dead: boolean
}

export interface SwallowedFin {
  from: 'client' | 'target'
  /**
   * The dialer's `host:port`: the `localAddress` of its session row. Not unique on its own: Linux
   * may give two dialers the same local port towards different proxies. With the proxy's
   * `address` (the row's `remoteAddress`) it names one connection.
   */
  client: string
  /** Frames `from` sent into the dark before it gave up (a keepalive sends one PING per tick). */
  frames: number
  /** Milliseconds since the proxy last passed a byte to `from` (since accept, if it never did). */
  silentMs: number
}

export interface TcpProxyEvents {
  /**
   * A FIN (or reset) swallowed by a blackholed connection: the `client` (the dialer) or the
   * `target` gave up on a link that is dark — the moment it detected the outage, whatever its drain time.
   * `frames` and `silentMs` let a test check the detection by keepalive ticks and by silence, not
   * by a wall-clock window.
   */
  'swallowed-fin': [SwallowedFin]
  /** A connection arrived, with the mode it met (a refused one included). */
  connection: [{ mode: ProxyMode }]
}

/**
 * A loopback TCP proxy for fault tests. Faults act per proxy, so one proxy per directed link
 * lets a test cut exactly the links it wants (see fault-net.ts).
 *
 * `blackhole()` makes every current connection go silent in both directions without closing it —
 * the peer keeps a live-looking socket, as behind a dead host or a dropped route — and holds new
 * connections silent too until `heal()`. A blackholed connection never comes back, not even after
 * the heal: the nodes must notice (keepalive) and dial again, as after a real outage.
 */
export class TcpProxy extends EventEmitter<TcpProxyEvents> {
  readonly #server: Server
  readonly #targetHost: string
  readonly #targetPort: number
  readonly #pairs = new Set<Pair>()
  #mode: ProxyMode = 'pass'
  #delayMs = 0
  /** Connections accepted, refused and reset over the proxy's life. */
  readonly stats = { accepted: 0, refused: 0, reset: 0 }

  private constructor(server: Server, targetHost: string, targetPort: number) {
    super()
    this.#server = server
    this.#targetHost = targetHost
    this.#targetPort = targetPort
  }

  static async start(targetHost: string, targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
    // Half-open allowed, so a FIN is forwarded (or, blackholed, swallowed) rather than answered by Node.
    const server = createServer({ allowHalfOpen: true })
    const proxy = new TcpProxy(server, targetHost, targetPort)
    server.on('connection', (down) => proxy.#accept(down))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: 0 }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return proxy
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port
  }

  /** `host:port` as a dialer's session row has it in `remoteAddress`. */
  get address(): string {
    const { address, port } = this.#server.address() as { address: string; port: number }
    return `${address}:${port}`
  }

  get mode(): ProxyMode {
    return this.#mode
  }

  /** Connections currently held open (live or blackholed). */
  get connections(): number {
    return this.#pairs.size
  }

  /** Adds `ms` of latency to every byte in both directions, order preserved. 0 removes it. */
  delay(ms: number): void {
    this.#delayMs = ms
  }

  /** Accepts connections but discards every byte, on existing connections as well. */
  drop(): void {
    this.#mode = 'drop'
  }

  /** Current connections go silent for good; new ones are accepted but silent until `heal()`. */
  blackhole(): void {
    for (const pair of this.#pairs) this.#kill(pair)
    this.#mode = 'blackhole'
  }

  /** New connections are reset at once; existing ones are left as they are. */
  refuse(): void {
    this.#mode = 'refuse'
  }

  /** Sends a TCP RST both ways on every current connection. */
  reset(): void {
    for (const pair of [...this.#pairs]) {
      this.stats.reset++
      this.#forget(pair)
      pair.down.resetAndDestroy()
      pair.up?.resetAndDestroy()
    }
  }

  /** Back to plain pass-through without delay. Connections blackholed before stay dead. */
  heal(): void {
    this.#mode = 'pass'
    this.#delayMs = 0
  }

  async close(): Promise<void> {
    for (const pair of [...this.#pairs]) {
      this.#forget(pair)
      pair.down.destroy()
      pair.up?.destroy()
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept(down: Socket): void {
    down.on('error', () => {})
    this.emit('connection', { mode: this.#mode })
    if (this.#mode === 'refuse') {
      this.stats.refused++
      down.resetAndDestroy()
      return
    }
    this.stats.accepted++
    const ends = { client: new End(), target: new End() }
    const client = `${down.remoteAddress}:${down.remotePort}`
    const swallowed = (from: 'client' | 'target') => {
      const end = ends[from]
      this.emit('swallowed-fin', {
        from,
        client,
        frames: end.sent.frames - end.framesAtDark,
        silentMs: performance.now() - end.lastDeliveredAt,
      })
    }
    if (this.#mode === 'blackhole') {
      // Nothing reaches the target: it never learns of this dial. Its bytes are read (and
      // counted), so its FIN is seen.
      const pair: Pair = { down, toDown: new Pipe(down, ends.client), ends, dead: true }
      this.#pairs.add(pair)
      down.on('data', (data: Buffer) => ends.client.sent.feed(data))
      down.on('end', () => swallowed('client'))
      down.on('close', (hadError) => hadError && swallowed('client'))
      down.on('close', () => this.#pairs.delete(pair))
      return
    }
    const up = connect({ host: this.#targetHost, port: this.#targetPort, allowHalfOpen: true })
    up.on('error', () => {})
    const pair: Pair = {
      down,
      up,
      toUp: new Pipe(up, ends.target),
      toDown: new Pipe(down, ends.client),
      ends,
      dead: false,
    }
    this.#pairs.add(pair)
    // Bytes from the client wait in the socket until upstream is connected: writes to a
    // connecting socket are queued by Node, in order.
    const forward = (pipe: Pipe, from: End) => (data: Buffer) => {
      from.sent.feed(data)
      if (!pair.dead && this.#mode !== 'drop') pipe.push(data, this.#delayMs)
    }
    down.on('data', forward(pair.toUp as Pipe, ends.client))
    up.on('data', forward(pair.toDown, ends.target))
    const end = (pipe: Pipe, from: 'client' | 'target') => () => {
      if (pair.dead) swallowed(from)
      else pipe.push('end', this.#delayMs)
    }
    down.on('end', end(pair.toUp as Pipe, 'client'))
    up.on('end', end(pair.toDown, 'target'))
    // A clean close already queued its FIN behind its last bytes (the 'end' above); a reset is
    // passed on as a reset. A dead link passes nothing and leaves the other side hanging.
    const gone = (other: Socket, hadError: boolean, from: 'client' | 'target') => {
      if (down.destroyed && up.destroyed) this.#pairs.delete(pair)
      // A node that aborts a dead session (keepalive timeout) may reset instead of sending FIN:
      // that is giving up on the dark link too.
      if (pair.dead && hadError) swallowed(from)
      if (pair.dead || !hadError) return
      this.#forget(pair)
      other.resetAndDestroy()
    }
    down.on('close', (hadError) => gone(up, hadError, 'client'))
    up.on('close', (hadError) => gone(down, hadError, 'target'))
  }

  #kill(pair: Pair): void {
    if (!pair.dead) for (const end of Object.values(pair.ends)) end.framesAtDark = end.sent.frames
    pair.dead = true
    pair.toUp?.clear()
    pair.toDown.clear()
  }

  #forget(pair: Pair): void {
    this.#kill(pair)
    this.#pairs.delete(pair)
  }
}
