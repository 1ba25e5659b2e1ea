import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { AdminApiError } from './errors.ts'
import { DEFAULT_SSE_MAX_CLIENTS } from './sse-hub.ts'

export interface HttpLimitsInit {
  /**
   * TCP connections held at once. The admin API shares the process's descriptors with every node,
   * and preflight keeps 2 × DEFAULT_SSE_MAX_CLIENTS of them for it: 64 event streams and 64 other
   * clients. At the cap the oldest idle connection makes room; if none is idle a new one is closed.
   * @default 128
   */
  maxConnections?: number
  /**
   * Requests served at once, from arrival until the answer is handed to the kernel. Most of them
   * call into every worker, and an answer a client does not read stays in memory: this bounds both,
   * also against one socket pipelining thousands of requests. /healthz, /events and /metrics are
   * not counted.
   * @default 32
   */
  maxRequestsInFlight?: number
  /** A connection with no progress either way for this long (silent, stalled) is closed. @default 60000 */
  idleTimeoutMs?: number
}

export const DEFAULT_ADMIN_MAX_CONNECTIONS = 2 * DEFAULT_SSE_MAX_CLIENTS
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 32
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000
/** Request line and headers must be in within this; Node checks every 30 s, so it closes in 10-40 s. */
const HEADERS_TIMEOUT_MS = 10_000
/** The whole request, body included (at most 1 MiB). */
const REQUEST_TIMEOUT_MS = 30_000
/** A keep-alive connection with no next request. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000

/**
 * Not counted: /events has its own cap; liveness must tell load from death; and /metrics must show
 * the refusals while they happen (concurrent scrapes share one snapshot of the workers, and the
 * connection cap bounds their answers).
 */
const UNCOUNTED = new Set(['/healthz', '/events', '/metrics'])

export interface HttpLimitStats {
  /** Requests answered 503 ERR_BUSY. */
  readonly requestsRefused: number
  /** Connections closed on arrival because every one held was busy. */
  readonly connectionsDropped: number
  /** Idle connections closed to make room for a new one. */
  readonly connectionsEvicted: number
}

/** Fastify options for the timeouts; `idleTimeoutMs` is at least twice the SSE heartbeat. */
export function httpTimeoutOptions(idleTimeoutMs: number) {
  return {
    connectionTimeout: idleTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
  }
}

/**
 * The connection cap and the in-flight cap (the timeouts are Fastify options, above).
 *
 * Connections are kept oldest first. When a new one fills the last place, the oldest one with
 * nothing in flight is closed: one silent since connect (or with half a request line) first, else
 * one idle between keep-alive requests. So silent sockets can never hold every place: an honest
 * client sends its request at once and is busy from then on. Only when every connection is busy
 * is a new one dropped.
 */
export function registerHttpLimits(app: FastifyInstance, init: HttpLimitsInit): HttpLimitStats {
  const maxInFlight = init.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT
  const maxConnections = init.maxConnections ?? DEFAULT_ADMIN_MAX_CONNECTIONS
  const stats = { requestsRefused: 0, connectionsDropped: 0, connectionsEvicted: 0 }
  const server = app.server
  server.headersTimeout = HEADERS_TIMEOUT_MS
  server.maxConnections = maxConnections
  server.on('drop', () => {
    stats.connectionsDropped++
  })
  /**
   * Every open connection, oldest first: its requests in flight (an event stream stays in flight)
   * and whether it ever sent one.
   */
  const connections = new Map<Socket, { busy: number; used: boolean }>()
  const evictable = (silentOnly: boolean): Socket | undefined => {
    for (const [socket, state] of connections) if (state.busy === 0 && !(silentOnly && state.used)) return socket
    return undefined
  }
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { busy: 0, used: false })
    socket.once('close', () => connections.delete(socket))
    if (connections.size < maxConnections) return
    // Silent since connect first: a client between keep-alive requests may be about to reuse its
    // socket, and not every client retries when it is closed under it.
    const victim = evictable(true) ?? evictable(false)
    if (victim === undefined) return
    stats.connectionsEvicted++
    victim.destroy()
  })
  let inFlight = 0
  app.addHook('onRequest', async (req, reply) => {
    const connection = connections.get(req.socket)
    const counted = !UNCOUNTED.has(req.routeOptions.url ?? '')
    if (counted && inFlight >= maxInFlight) {
      stats.requestsRefused++
      reply.header('retry-after', '1')
      throw new AdminApiError('ERR_BUSY', `${inFlight} requests in flight, the most this server serves at once`)
    }
    if (counted) inFlight++
    if (connection !== undefined) {
      connection.busy++
      connection.used = true
    }
    // 'close' follows the last byte handed to the kernel, or the client going away.
    reply.raw.once('close', () => {
      if (counted) inFlight--
      if (connection !== undefined) connection.busy--
    })
  })
  return stats
}
