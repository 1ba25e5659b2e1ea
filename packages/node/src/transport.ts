/**
 * What a node needs from a network, as small as it can be: listen, connect, and one byte stream
 * per connection. `net-transport.ts` gives the real one over node:net; the simulator
 * (`@peerhouse/sim`) gives one over simulated links in virtual time. Nothing else in the node
 * touches a socket, so the same code runs in both worlds.
 */

/** Callbacks of one link, set once with `Link.bind`. Each runs synchronously from the transport. */
export interface LinkHandlers {
  /** Bytes from the peer. The link owns nothing of `chunk` afterwards. */
  data(chunk: Uint8Array): void
  /** The peer's FIN: it sends nothing more. */
  end(): void
  /** A reset or another failure; `close` follows. */
  error(error: Error): void
  /** The link is gone for good (after a destroy, a reset, or both FINs). */
  close(): void
  /** What was queued has been taken: writing may go on. */
  drain(): void
}

/** One connection's byte stream, both directions. */
export interface Link {
  /** `host:port` of each end, for rows and logs (never an identity). */
  readonly remoteAddress: string
  readonly localAddress: string
  /** Bytes written and not yet taken by the network (the kernel, or the simulated link). */
  readonly queuedBytes: number
  /** False once the link can take no more writes (ended or gone). */
  readonly writable: boolean
  /** True once the link is gone or being torn down. */
  readonly destroyed: boolean
  bind(handlers: LinkHandlers): void
  /** Queues `bytes`; false once the queue is past the transport's high-water mark (`drain` follows). */
  write(bytes: Uint8Array): boolean
  /** Writes made until uncork() leave together (fewer packets); a no-op where that means nothing. */
  cork(): void
  uncork(): void
  /** Sends FIN once everything queued is out; with `thenDestroy`, the link is destroyed at that moment. */
  end(thenDestroy?: boolean): void
  /** Gone now: nothing more is read or written. */
  destroy(): void
  /** Stop and restart delivering `data` (the peer is then held back by flow control). */
  pause(): void
  resume(): void
  /** Nothing more is delivered from the peer; the link stays open for what we still write. */
  stopReading(): void
}

/** A listening port. */
export interface Listener {
  readonly port: number
  /** Stops accepting; resolves once the port is released. */
  close(): Promise<void>
}

/** A dial in flight. Exactly one of `connected` or `failed` runs. */
export interface Dialing {
  /** Gives up: `failed` runs with 'aborted' (unless it already connected). */
  abort(): void
}

export interface Transport {
  listen(host: string, port: number, accept: (link: Link) => void): Promise<Listener>
  connect(
    host: string,
    port: number,
    timeoutMs: number,
    on: { connected(link: Link): void; failed(why: string): void },
  ): Dialing
}
