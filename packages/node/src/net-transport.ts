import { connect, createServer, type Socket } from 'node:net'
import type { Dialing, Link, LinkHandlers, Listener, Transport } from './transport.ts'

/** A node:net socket as a Link. */
class NetLink implements Link {
  readonly #socket: Socket
  readonly remoteAddress: string
  readonly localAddress: string

  constructor(socket: Socket) {
    this.#socket = socket
    this.remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`
    this.localAddress = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
  }

  get queuedBytes(): number {
    return this.#socket.writableLength
  }

  get writable(): boolean {
    return !this.#socket.destroyed && this.#socket.writable
  }

  get destroyed(): boolean {
    return this.#socket.destroyed
  }

  bind(h: LinkHandlers): void {
    const s = this.#socket
    s.on('data', (chunk: Buffer) => h.data(chunk))
    s.on('end', () => h.end())
    s.on('error', (error) => h.error(error))
    s.on('close', () => h.close())
    s.on('drain', () => h.drain())
  }

  write(bytes: Uint8Array): boolean {
    return this.#socket.write(bytes)
  }

  cork(): void {
    this.#socket.cork()
  }

  uncork(): void {
    this.#socket.uncork()
  }

  end(thenDestroy = false): void {
    this.#socket.end()
    if (thenDestroy) this.#socket.once('finish', () => this.#socket.destroy())
  }

  destroy(): void {
    this.#socket.destroy()
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  stopReading(): void {
    this.#socket.removeAllListeners('data')
  }
}

/** The real network: TCP over node:net. */
export const netTransport: Transport = {
  async listen(host, port, accept): Promise<Listener> {
    const server = createServer((socket) => {
      socket.on('error', () => {}) // the link's own handler takes over once bound; this covers an early reset
      accept(new NetLink(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      // A deep accept queue: under a connection flood, connections wait in the kernel for the
      // eviction logic instead of being half-open on the client side.
      server.listen({ host, port, backlog: 4096 }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    // Accept errors (EMFILE and the like) must not throw: the node keeps serving what it has.
    server.on('error', () => {})
    return {
      port: (server.address() as { port: number }).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  },

  connect(host, port, timeoutMs, on): Dialing {
    const socket = connect({ host, port })
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), timeoutMs)
    let why = 'aborted'
    let connected = false
    socket.once('error', (error) => {
      why = error.message
    })
    socket.once('connect', () => {
      clearTimeout(timer)
      connected = true
      on.connected(new NetLink(socket))
    })
    socket.once('close', () => {
      clearTimeout(timer)
      if (!connected) on.failed(why)
    })
    return { abort: () => socket.destroy() }
  },
}
