import { request as httpRequest } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { type AdminAppOptions, buildApp } from '../src/admin/app.ts'
import { ErrorSchema } from '../src/admin/schemas.ts'
import type { TopologyReport } from '../src/supervisor-api.ts'
import { StubSupervisor } from './admin-stub.ts'

/**
 * Issue 9 item 8 for the admin API: what a client can make the server hold. Before these bounds a
 * silent TCP connection was kept forever (3,000 were still open after 72 s), any number of them
 * were accepted, and one socket pipelining GET /topology started 7,459 supervisor calls at once.
 */
const MAX_CONNECTIONS = 128
const MAX_IN_FLIGHT = 32

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

async function listening(opts: Partial<AdminAppOptions> = {}) {
  const supervisor = new StubSupervisor()
  const app = await buildApp({ supervisor, ...opts } as AdminAppOptions)
  apps.push(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, supervisor, port }
}

function tcp(port: number): Socket {
  const s = connect({ port, host: '127.0.0.1' })
  s.on('error', () => {})
  sockets.push(s)
  return s
}

/** Polls `check` on each turn of the event loop; fails after `ms` (a hang, not a speed bound). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const t0 = performance.now()
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function get(port: number, path: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN)

describe('admin API: connection bounds', () => {
  it('a connection that sends nothing (or half a request) is closed after idleTimeoutMs', async () => {
    const { port } = await listening({ idleTimeoutMs: 300 })
    const silent = Array.from({ length: 20 }, () => tcp(port))
    const half = Array.from({ length: 5 }, () => {
      const s = tcp(port)
      s.write('GET /healthz HTTP/1.1\r\nhost: x\r\n')
      return s
    })
    const closed = Promise.all([...silent, ...half].map((s) => new Promise((r) => s.once('close', r))))
    // The deadline only catches a server that never closes them.
    const hang = new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 10 s')), 10_000))
    await Promise.race([closed, hang])
  })

  it(`${MAX_CONNECTIONS} connections at most; silent ones make room for newcomers, so /healthz always gets in`, async () => {
    const { app, port } = await listening()
    let open = 0
    let peak = 0
    app.server.on('connection', (s: Socket) => {
      open++
      peak = Math.max(peak, open)
      s.once('close', () => open--)
    })
    const flood = Array.from({ length: 1000 }, () => tcp(port))
    // Each flood socket is connected (and held) or was closed by the server.
    await until(
      () => flood.every((s) => s.destroyed || (!s.connecting && s.readyState === 'open')),
      'every flood connection settled',
    )
    const counts = async () => {
      const m = (await app.inject('/metrics')).body
      const n = (name: string) => metric(m, name) || 0
      return {
        dropped: n('peerhouse_admin_connections_dropped_total'),
        evicted: n('peerhouse_admin_connections_evicted_total'),
      }
    }
    await until(async () => {
      const { dropped, evicted } = await counts()
      return dropped + evicted + open >= 1000
    }, 'the server to account for every connection')
    console.log('connection flood', { peak, open, ...(await counts()) })
    expect(peak).toBeLessThanOrEqual(MAX_CONNECTIONS)
    // The silent flood still holds its places; each newcomer takes the oldest one's, first try.
    for (let i = 0; i < 20; i++) expect((await get(port, '/healthz')).status).toBe(200)
    expect((await counts()).dropped).toBe(0)
  })
})

describe('admin API: requests in flight', () => {
  it(`one socket pipelining thousands of requests starts at most ${MAX_IN_FLIGHT} supervisor calls; the rest get 503 ERR_BUSY`, async () => {
    const { app, supervisor, port } = await listening()
    let pending = 0
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    const topology = supervisor.topology.bind(supervisor)
    supervisor.topology = async (): Promise<TopologyReport> => {
      pending++
      await held
      return topology()
    }
    const s = tcp(port)
    s.pause() // never reads the answers
    s.write('GET /topology HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(5000))
    // Node stops parsing a socket whose queued answers pass its buffer: a few refusals are enough.
    await until(async () => {
      const refused = metric((await app.inject('/metrics')).body, 'peerhouse_admin_requests_refused_total')
      return pending > MAX_IN_FLIGHT || refused >= 10
    }, 'the pipelined requests past the cap')
    const m = (await app.inject('/metrics')).body
    console.log('pipelining flood', { pending, refused: metric(m, 'peerhouse_admin_requests_refused_total') })
    expect(pending).toBeLessThanOrEqual(MAX_IN_FLIGHT)

    // While every slot is taken: /healthz still answers, another request is refused with the error body.
    expect((await app.inject('/healthz')).statusCode).toBe(200)
    const busy = await get(port, '/nodes')
    expect(busy.status).toBe(503)
    expect(busy.headers['retry-after']).toBe('1')
    expect(ErrorSchema.strict().parse(JSON.parse(busy.body))).toMatchObject({ code: 'ERR_BUSY' })

    // Slots come back once the answers are handed to the kernel (or the client goes away).
    release()
    s.destroy()
    await until(async () => (await get(port, '/nodes')).status === 200, 'a slot to come back')
  })
})
