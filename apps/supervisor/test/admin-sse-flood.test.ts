import { request as httpRequest } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/admin/app.ts'
import { ErrorSchema } from '../src/admin/schemas.ts'
import { openFileLimit } from '../src/preflight.ts'
import type { SupervisorEvent } from '../src/supervisor-api.ts'
import { ID, row, StubSupervisor, sid } from './admin-stub.ts'

/**
 * Issue 9, item 5: GET /events clients that never read, while events flow. Before the fix every
 * client had its own listener, its own JSON.stringify per event and up to 1 MiB queued for it: 1,000
 * of them took the supervisor past 2.6 GB and left the API unresponsive.
 */
const MAX_CLIENTS = 64
/** Two descriptors per client in this process (our socket and the server's); keep a reserve. */
const FLOOD = Math.min(1000, Math.floor(((openFileLimit() ?? 4096) - 256) / 2))
/** The attack pumps for 20 s; half of that shows the same mechanism. */
const PUMP_MS = 10_000
/** Bytes of events the pump emits at least (many times what a stalled client's kernel buffers take). */
const PUMP_MIN_BYTES = 64 * 1024 * 1024
const EVENTS_PER_TICK = 50
const RSS_BUDGET = 256 * 1024 * 1024
const HEALTHZ_BUDGET_MS = 1000
/** A probe slower than this ends the pump early (it has failed anyway); so does twice the RSS budget. */
const HEALTHZ_GIVE_UP_MS = 5000

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

/** Sends GET /events and never reads a byte: paused before connect, so nothing is pulled from the kernel. */
function nonReader(port: number): Socket {
  const s = connect({ port, host: '127.0.0.1' })
  s.pause()
  s.on('error', () => {}) // the server resets the ones it drops
  s.write('GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
  sockets.push(s)
  return s
}

/** A client that reads: status, and (for a 200) the count of `event:` lines seen so far. */
function reader(port: number) {
  let events = 0
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) body += chunk
        else events += chunk.split('\nevent: ').length - 1 + (chunk.startsWith('event: ') ? 1 : 0)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }))
      if (res.statusCode === 200) resolve({ status: 200, body: '' })
    })
    req.on('error', reject)
    req.end()
    req.on('socket', (s) => sockets.push(s))
  })
  return { done, events: () => events }
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
  return m?.[1] === undefined ? Number.NaN : Number(m[1])
}

/** One GET /healthz over its own connection; resolves with the latency in ms (GIVE_UP if no answer). */
function healthz(port: number): Promise<number> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : HEALTHZ_GIVE_UP_MS))
    })
    req.setTimeout(HEALTHZ_GIVE_UP_MS, () => req.destroy())
    req.on('error', () => resolve(HEALTHZ_GIVE_UP_MS))
    req.end()
  })
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((p / 100) * xs.length) - 1] ?? 0

describe('GET /events under a flood of clients that never read', () => {
  it(`${FLOOD} non-reading clients + an event pump: /healthz stays < 1 s, RSS grows < 256 MiB, clients past the cap are refused (503)`, async () => {
    const supervisor = new StubSupervisor()
    const app = await buildApp({ supervisor, sseMaxClients: MAX_CLIENTS } as Parameters<typeof buildApp>[0])
    apps.push(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    if (FLOOD < 1000) console.log(`open-file limit ${openFileLimit()}: flood scaled down to ${FLOOD} clients`)

    // One honest client that reads holds a slot through the whole attack.
    const honest = reader(port)
    expect((await honest.done).status).toBe(200)

    const rss0 = process.memoryUsage().rss
    for (let i = 0; i < FLOOD; i++) nonReader(port)
    // Each flood client is streamed to (the 63 places left), refused with 503, or, at the
    // connection cap, closed to make room (oldest idle first) or on arrival.
    const accounted = async () => {
      const m = (await app.inject('/metrics')).body
      return (
        metric(m, 'peerhouse_sse_clients') +
        metric(m, 'peerhouse_sse_refused_total') +
        metric(m, 'peerhouse_admin_connections_evicted_total') +
        metric(m, 'peerhouse_admin_connections_dropped_total')
      )
    }
    for (const t = performance.now(); (await accounted()) < FLOOD + 1; ) {
      if (performance.now() - t > 30_000) throw new Error(`flood not accounted for: ${await accounted()}`)
      await new Promise((r) => setTimeout(r, 10))
    }

    // The cap is full (honest + 63 flooders); the next clients are refused with the error body.
    const probes = await Promise.all(Array.from({ length: 5 }, () => reader(port).done))

    // The pump: session:open events, ~600 bytes each, until PUMP_MS and PUMP_MIN_BYTES both passed.
    const sample: SupervisorEvent = {
      type: 'session:open',
      index: 1,
      nodeId: ID[1],
      session: row(sid(7), ID[2]),
    }
    const eventBytes = JSON.stringify(sample).length
    let emitted = 0
    let stop = false
    const t0 = performance.now()
    const pump = setInterval(() => {
      for (let i = 0; i < EVENTS_PER_TICK; i++) supervisor.emit('event', sample)
      emitted += EVENTS_PER_TICK
      const elapsed = performance.now() - t0
      if (stop || elapsed > 3 * PUMP_MS || (elapsed > PUMP_MS && emitted * eventBytes > PUMP_MIN_BYTES)) {
        stop = true
        clearInterval(pump)
      }
    }, 1)

    const latencies: number[] = []
    let rssPeak = rss0
    while (!stop) {
      const ms = await healthz(port)
      latencies.push(ms)
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
      // Past the budget by far: stop the damage here (on a shared machine) and report.
      if (ms >= HEALTHZ_GIVE_UP_MS || rssPeak - rss0 > 2 * RSS_BUDGET) stop = true
      await new Promise((r) => setTimeout(r, 20))
    }
    clearInterval(pump)
    const pumpedMs = performance.now() - t0

    // Slots of dropped clients were released: a new reader gets in after the attack.
    const late = reader(port)
    const lateStatus = (await late.done).status
    const metrics = (await app.inject('/metrics')).body
    const figures = {
      flood: FLOOD,
      pumpedMs: Math.round(pumpedMs),
      eventsEmitted: emitted,
      mbEmitted: Math.round((emitted * eventBytes) / 1e6),
      healthzProbes: latencies.length,
      healthzMaxMs: Math.round(Math.max(...latencies)),
      healthzP99Ms: Math.round(percentile(latencies, 99)),
      healthzP50Ms: Math.round(percentile(latencies, 50)),
      rssGrowthMiB: Math.round((rssPeak - rss0) / 2 ** 20),
      honestEventsSeen: honest.events(),
      probeStatuses: probes.map((p) => p.status),
      sseClients: metric(metrics, 'peerhouse_sse_clients'),
      sseRefused: metric(metrics, 'peerhouse_sse_refused_total'),
      sseDropped: metric(metrics, 'peerhouse_sse_dropped_total'),
      connectionsEvicted: metric(metrics, 'peerhouse_admin_connections_evicted_total'),
      connectionsDropped: metric(metrics, 'peerhouse_admin_connections_dropped_total'),
      lateStatus,
    }
    console.log('SSE flood figures', figures)

    expect(figures.healthzMaxMs).toBeLessThan(HEALTHZ_BUDGET_MS)
    expect(rssPeak - rss0).toBeLessThan(RSS_BUDGET)
    expect(emitted * eventBytes).toBeGreaterThan(PUMP_MIN_BYTES)
    expect(honest.events()).toBeGreaterThan(0)
    for (const p of probes) {
      expect(p.status).toBe(503)
      expect(ErrorSchema.parse(JSON.parse(p.body))).toMatchObject({ statusCode: 503, code: 'ERR_TOO_MANY_CLIENTS' })
    }
    // Every flooder past the cap was refused, never streamed to; the stalled ones were dropped.
    const refused = figures.sseRefused - probes.length + figures.connectionsEvicted + figures.connectionsDropped
    expect(refused).toBeGreaterThanOrEqual(FLOOD - (MAX_CLIENTS - 1))
    expect(figures.sseRefused).toBeGreaterThan(probes.length)
    expect(figures.sseDropped).toBeGreaterThanOrEqual(MAX_CLIENTS - 1)
    expect(lateStatus).toBe(200)
  })
})
