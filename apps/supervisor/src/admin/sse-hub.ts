import type { ServerResponse } from 'node:http'
import type { SupervisorApi, SupervisorEvent } from '../supervisor-api.ts'

/** What one GET /events client asked for; an absent field lets everything through. */
export interface SseFilter {
  /** Only events of the node with this index (events without a node, e.g. allowlist:*, are left out). */
  readonly index?: number
  readonly types?: ReadonlySet<SupervisorEvent['type']>
}

export interface SseHubInit {
  supervisor: SupervisorApi
  /**
   * Concurrent streams. Each one costs a descriptor and a write per event batch, and a browser tab
   * of the dashboard needs one: 64 covers a team's dashboards and scripts many times over, keeps an
   * event storm (a 128-node restart is tens of thousands of events) at 64 writes per batch, and fits
   * the descriptors preflight reserves for the admin API.
   * @default 64
   */
  maxClients?: number
  /**
   * Bytes that may wait in user space for one client (beyond what the kernel took). A client that
   * would go past it is dropped, not buffered for. Chunks are shared between clients, so all the
   * clients together hold at most this much per distinct filter, plus one batch.
   * @default 65536
   */
  maxBufferedBytes?: number
  /** Interval of the `: heartbeat` comment that keeps proxies from timing the stream out. @default 15000 */
  heartbeatMs?: number
  /** Told about each dropped client. */
  onDrop?: (why: string) => void
}

export interface SseStats {
  readonly clients: number
  /** Requests answered 503 because every slot was taken. */
  readonly refused: number
  /** Clients dropped because they fell `maxBufferedBytes` behind. */
  readonly dropped: number
}

export const DEFAULT_SSE_MAX_CLIENTS = 64
export const DEFAULT_SSE_BUFFER_BYTES = 64 * 1024

const OPENING = Buffer.from(': peerhouse events\n\n')
const HEARTBEAT = Buffer.from(': heartbeat\n\n')
/** A burst the supervisor emits within one tick is flushed early past this many items. */
const MAX_PENDING = 4096

export function formatSse(event: SupervisorEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}

function matches(filter: SseFilter, event: SupervisorEvent): boolean {
  if (filter.types !== undefined && !filter.types.has(event.type)) return false
  if (filter.index !== undefined && !('index' in event && event.index === filter.index)) return false
  return true
}

const filterKey = (f: SseFilter) => `${f.index ?? '*'}|${f.types === undefined ? '*' : [...f.types].sort().join()}`

interface Client {
  readonly res: ServerResponse
  readonly filter: SseFilter
  /** Clients with equal keys get the very same chunk. */
  readonly key: string
}

type Pending = SupervisorEvent | typeof HEARTBEAT

/**
 * The fan-out behind GET /events: one supervisor listener for all clients. Events queue for the
 * current tick; the flush serialises each event once, concatenates one chunk per distinct filter,
 * and writes that same Buffer to every client of the filter. A client whose socket backs up past
 * `maxBufferedBytes` is reset; the heartbeat is one timer for all.
 */
export class SseHub implements SseStats {
  readonly #supervisor: SupervisorApi
  readonly #maxClients: number
  readonly #maxBuffered: number
  readonly #heartbeatMs: number
  readonly #onDrop: ((why: string) => void) | undefined
  readonly #clients = new Map<ServerResponse, Client>()
  #pending: Pending[] = []
  #scheduled = false
  #heartbeat: NodeJS.Timeout | undefined
  #refused = 0
  #dropped = 0

  constructor(init: SseHubInit) {
    this.#supervisor = init.supervisor
    this.#maxClients = init.maxClients ?? DEFAULT_SSE_MAX_CLIENTS
    this.#maxBuffered = init.maxBufferedBytes ?? DEFAULT_SSE_BUFFER_BYTES
    this.#heartbeatMs = init.heartbeatMs ?? 15_000
    this.#onDrop = init.onDrop
    if (!Number.isInteger(this.#maxClients) || this.#maxClients < 1) {
      throw new TypeError(`sseMaxClients must be a positive integer, got ${init.maxClients}`)
    }
  }

  get clients(): number {
    return this.#clients.size
  }
  get refused(): number {
    return this.#refused
  }
  get dropped(): number {
    return this.#dropped
  }

  /** False (and counted as refused) when every slot is taken; the caller answers 503. */
  reserve(): boolean {
    if (this.#clients.size < this.#maxClients) return true
    this.#refused++
    return false
  }

  /** Starts the stream on a response the caller has taken over from Fastify (after `reserve()`). */
  add(res: ServerResponse, filter: SseFilter): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write(OPENING)
    this.#clients.set(res, { res, filter, key: filterKey(filter) })
    res.once('close', () => this.#remove(res))
    if (this.#clients.size === 1) {
      this.#supervisor.on('event', this.#onEvent)
      this.#heartbeat = setInterval(() => this.#enqueue(HEARTBEAT), this.#heartbeatMs)
      this.#heartbeat.unref()
    }
  }

  /** Ends every stream (app.close() cannot see hijacked responses). */
  endAll(): void {
    for (const res of [...this.#clients.keys()]) res.end()
  }

  #remove(res: ServerResponse): void {
    if (!this.#clients.delete(res) || this.#clients.size > 0) return
    this.#supervisor.off('event', this.#onEvent)
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    this.#pending = []
  }

  readonly #onEvent = (event: SupervisorEvent): void => this.#enqueue(event)

  #enqueue(item: Pending): void {
    this.#pending.push(item)
    if (this.#pending.length >= MAX_PENDING) this.#flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const batch = this.#pending
    if (batch.length === 0) return
    this.#pending = []
    const serialised: (Buffer | undefined)[] = []
    const chunks = new Map<string, Buffer | null>()
    for (const client of [...this.#clients.values()]) {
      let chunk = chunks.get(client.key)
      if (chunk === undefined) {
        chunk = chunkFor(client.filter, batch, serialised)
        chunks.set(client.key, chunk)
      }
      if (chunk !== null) this.#write(client, chunk)
    }
  }

  #write({ res }: Client, chunk: Buffer): void {
    if (res.destroyed || res.writableEnded) return
    const queued = res.writableLength
    // An empty queue takes any chunk (one allowlist:change can be bigger than the bound).
    if (queued > 0 && queued + chunk.length > this.#maxBuffered) {
      this.#dropped++
      this.#onDrop?.(`SSE client ${queued} bytes behind: dropped`)
      // A reset discards what the kernel still holds for it, instead of lingering in FIN_WAIT.
      if (res.socket !== null) res.socket.resetAndDestroy()
      else res.destroy()
      return
    }
    res.write(chunk)
  }
}

function chunkFor(filter: SseFilter, batch: readonly Pending[], serialised: (Buffer | undefined)[]): Buffer | null {
  const parts: Buffer[] = []
  for (let i = 0; i < batch.length; i++) {
    const item = batch[i] as Pending
    if (Buffer.isBuffer(item)) parts.push(item)
    else if (matches(filter, item)) {
      let buf = serialised[i]
      if (buf === undefined) {
        buf = Buffer.from(formatSse(item))
        serialised[i] = buf
      }
      parts.push(buf)
    }
  }
  if (parts.length === 0) return null
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)
}
