import { request as httpRequest, type IncomingMessage } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type AdminAppOptions, buildApp } from '../src/admin/app.ts'
import type { ErrorBody } from '../src/admin/errors.ts'
import type { SupervisorEvent } from '../src/supervisor-api.ts'
import { ID, row, StubSupervisor, sid } from './admin-stub.ts'

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

async function listening(opts: Partial<AdminAppOptions> = {}) {
  const supervisor = new StubSupervisor()
  const app = await buildApp({ supervisor, ...opts })
  apps.push(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, supervisor, port }
}

interface Stream {
  res: IncomingMessage
  text: () => string
  /** Resolves once the text received so far satisfies `check`. */
  until: (check: (text: string) => boolean) => Promise<string>
  close: () => void
}

/** GET `path` over a real socket; resolves with the response once its headers are in. */
function open(port: number, path = '/events', method = 'GET'): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let text = ''
      const waiters = new Set<() => void>()
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        for (const w of [...waiters]) w()
      })
      res.on('error', () => {})
      res.on('end', () => {
        for (const w of [...waiters]) w()
      })
      resolve({
        res,
        text: () => text,
        until: (check) =>
          new Promise((done) => {
            const w = () => {
              if (!check(text)) return
              waiters.delete(w)
              done(text)
            }
            waiters.add(w)
            w()
          }),
        close: () => req.destroy(),
      })
    })
    req.on('socket', (s) => sockets.push(s))
    req.on('error', reject)
    req.end()
  })
}

const body = async (s: Stream) => JSON.parse(await s.until(() => s.res.complete)) as ErrorBody
const blocks = (text: string) =>
  text
    .split('\n\n')
    .filter((b) => b.startsWith('event: '))
    .map((b) => JSON.parse(b.slice(b.indexOf('\ndata: ') + 7)) as SupervisorEvent)

/**
 * Re-checks on each metrics scrape: the hub's own counts, never a sleep. The deadline only
 * catches a hang (what it waits for may need socket I/O, which a loaded machine slows).
 */
async function untilMetric(app: FastifyInstance, name: string, want: number): Promise<void> {
  for (const t0 = performance.now(); performance.now() - t0 < 20_000; ) {
    const text = (await app.inject('/metrics')).body
    if (new RegExp(`^${name} ${want}$`, 'm').test(text)) return
    await new Promise((r) => setImmediate(r))
  }
  throw new Error(`${name} never reached ${want}`)
}

const status = (index: number, s: 'stopped' | 'running' = 'stopped'): SupervisorEvent => ({
  type: 'node:status',
  index,
  nodeId: ID[index as 0 | 1 | 2],
  status: s,
  restarts: 0,
})
const opened = (index: number): SupervisorEvent => ({
  type: 'session:open',
  index,
  nodeId: ID[index as 0 | 1 | 2],
  session: row(sid(index + 1), ID[((index + 1) % 3) as 0 | 1 | 2]),
})
const allowlistChange: SupervisorEvent = {
  type: 'allowlist:change',
  source: 'api',
  enabled: true,
  nodeIds: [],
  effective: [],
}

describe('GET /events: one fan-out for every client', () => {
  it('serialises an event once for all clients and writes them the same bytes', async () => {
    const { supervisor, port } = await listening()
    const streams = await Promise.all(Array.from({ length: 10 }, () => open(port)))
    await Promise.all(streams.map((s) => s.until((t) => t.startsWith(': peerhouse events'))))
    expect(supervisor.listenerCount('event')).toBe(1)
    const stringify = vi.spyOn(JSON, 'stringify')
    const event = opened(0)
    supervisor.emit('event', event)
    const texts = await Promise.all(streams.map((s) => s.until((t) => t.includes('\n\nevent: '))))
    expect(stringify.mock.calls.filter(([value]) => value === event)).toHaveLength(1)
    expect(new Set(texts).size).toBe(1)
    expect(blocks(texts[0] as string)).toEqual([event])
  })

  it('one heartbeat timer for all clients', async () => {
    const { port } = await listening({ sseHeartbeatMs: 20 })
    const setInterval = vi.spyOn(globalThis, 'setInterval')
    const streams = await Promise.all(Array.from({ length: 5 }, () => open(port)))
    await Promise.all(streams.map((s) => s.until((t) => t.includes(': heartbeat\n\n'))))
    expect(setInterval.mock.calls.filter(([, ms]) => ms === 20)).toHaveLength(1)
  })
})

describe('GET /events: the client cap', () => {
  it('past sseMaxClients: 503 ERR_TOO_MANY_CLIENTS with retry-after, the connection closed; slots come back when clients leave', async () => {
    const { app, port } = await listening({ sseMaxClients: 3 })
    const first = await Promise.all([open(port), open(port), open(port)])
    for (const s of first) expect(s.res.statusCode).toBe(200)
    const refused = await open(port)
    expect(refused.res.statusCode).toBe(503)
    expect(refused.res.headers['retry-after']).toBe('5')
    expect(refused.res.headers.connection).toBe('close')
    expect(await body(refused)).toEqual({
      statusCode: 503,
      code: 'ERR_TOO_MANY_CLIENTS',
      error: 'Service Unavailable',
      message: '3 event streams open, the most this server takes',
    })
    await untilMetric(app, 'peerhouse_sse_refused_total', 1)
    await untilMetric(app, 'peerhouse_sse_clients', 3)

    for (const s of first) s.close()
    await untilMetric(app, 'peerhouse_sse_clients', 0)
    const again = await Promise.all([open(port), open(port), open(port)])
    expect(again.map((s) => s.res.statusCode)).toEqual([200, 200, 200])
  })

  it('a client that stops reading is dropped once it is sseClientBufferBytes behind; a reader keeps its stream', async () => {
    const { app, supervisor, port } = await listening({ sseClientBufferBytes: 16 * 1024 })
    const stalled = connect({ port, host: '127.0.0.1' })
    stalled.pause()
    stalled.on('error', () => {})
    sockets.push(stalled)
    stalled.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n')
    await untilMetric(app, 'peerhouse_sse_clients', 1)
    const reader = await open(port)
    await untilMetric(app, 'peerhouse_sse_clients', 2)
    // The kernel takes a few MiB first; 64 MiB of events always backs the stalled socket up.
    const event = opened(1)
    const bytes = JSON.stringify(event).length
    let dropped = false
    for (let sent = 0; sent < 64 * 1024 * 1024 && !dropped; sent += 100 * bytes) {
      for (let i = 0; i < 100; i++) supervisor.emit('event', event)
      await new Promise((r) => setImmediate(r))
      dropped = /^peerhouse_sse_dropped_total 1$/m.test((await app.inject('/metrics')).body)
    }
    expect(dropped).toBe(true)
    await untilMetric(app, 'peerhouse_sse_clients', 1)
    supervisor.emit('event', status(2))
    await reader.until((t) => t.includes('"type":"node:status"'))
    expect(reader.res.destroyed).toBe(false)
  })

  it('HEAD /events takes no slot (it would never carry a byte, so it could never be dropped)', async () => {
    const { app, port } = await listening({ sseMaxClients: 1 })
    const head = await open(port, '/events', 'HEAD')
    expect(head.res.statusCode).toBe(404)
    await untilMetric(app, 'peerhouse_sse_clients', 0)
    expect((await open(port)).res.statusCode).toBe(200)
  })

  it('app.close() ends the streams and releases the supervisor listener', async () => {
    const { app, supervisor, port } = await listening()
    const s = await open(port)
    expect(supervisor.listenerCount('event')).toBe(1)
    await app.close()
    await s.until(() => s.res.complete)
    expect(supervisor.listenerCount('event')).toBe(0)
  })
})

describe('GET /events: filters', () => {
  it('?node=<index|id> keeps that node’s events; ?types= those types; both combine', async () => {
    const { supervisor, port } = await listening()
    const byIndex = await open(port, '/events?node=1')
    const byId = await open(port, `/events?node=${ID[1].toUpperCase()}`)
    const byType = await open(port, '/events?types=node:status,allowlist:change')
    const both = await open(port, '/events?node=2&types=session:open')
    const all = await open(port)
    const streams = [byIndex, byId, byType, both, all]
    await Promise.all(streams.map((s) => s.until((t) => t.startsWith(': peerhouse'))))
    const sent = [status(1), opened(1), status(2), opened(2), allowlistChange, opened(0)]
    for (const e of sent) supervisor.emit('event', e)
    const last = sent.at(-1) as SupervisorEvent
    supervisor.emit('event', { ...status(1, 'running') })
    supervisor.emit('event', { ...opened(2), nodeId: 'end' } as SupervisorEvent)
    await all.until((t) => t.includes('"nodeId":"end"'))
    await Promise.all([byIndex, byId].map((s) => s.until((t) => t.includes('"status":"running"'))))
    await byType.until((t) => t.includes('"status":"running"'))
    await both.until((t) => t.includes('"nodeId":"end"'))
    const types = (s: Stream) => blocks(s.text()).map((e) => `${e.type}@${'index' in e ? e.index : '-'}`)
    expect(types(byIndex)).toEqual(['node:status@1', 'session:open@1', 'node:status@1'])
    expect(types(byId)).toEqual(types(byIndex))
    expect(types(byType)).toEqual(['node:status@1', 'node:status@2', 'allowlist:change@-', 'node:status@1'])
    expect(types(both)).toEqual(['session:open@2', 'session:open@2'])
    expect(blocks(all.text())).toContainEqual(last)
    expect(blocks(all.text())).toHaveLength(sent.length + 2)
  })

  it.each([
    ['/events?nodes=1', 'querystring.nodes', /unknown field "nodes"/],
    ['/events?node=1&since=5', 'querystring.since', /unknown field "since"/],
    ['/events?node=node-1', 'querystring.node', /decimal node index or a 64-hex node id/],
    ['/events?node=1&node=2', 'querystring.node', /expected string/i],
    ['/events?types=session:open,bogus', 'querystring.types', /unknown event type "bogus"/],
    ['/events?types=', 'querystring.types', /empty list/],
    [`/events?types=${'session:open,'.repeat(60)}`, 'querystring.types', /<=512 characters/],
  ])('%s → 400 naming %s', async (url, path, message) => {
    const { app } = await listening()
    const res = await app.inject(url)
    expect(res.statusCode).toBe(400)
    const err = res.json() as ErrorBody
    expect(err.code).toBe('ERR_VALIDATION')
    expect(err.details?.[0]?.path).toBe(path)
    expect(err.details?.[0]?.message).toMatch(message)
  })

  it('?node= of no such node → 404 ERR_UNKNOWN_NODE, and no slot is taken', async () => {
    const { app } = await listening({ sseMaxClients: 1 })
    const res = await app.inject('/events?node=7')
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ code: 'ERR_UNKNOWN_NODE' })
    await untilMetric(app, 'peerhouse_sse_refused_total', 0)
    await untilMetric(app, 'peerhouse_sse_clients', 0)
  })
})
