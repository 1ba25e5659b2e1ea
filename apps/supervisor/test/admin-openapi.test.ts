import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/admin/app.ts'
import { SupervisorError } from '../src/supervisor-api.ts'
import { ID, StubSupervisor, sid, UNKNOWN_ID } from './admin-stub.ts'

interface Operation {
  operationId?: string
  security?: Record<string, string[]>[]
  parameters?: { in: string; name: string }[]
  requestBody?: unknown
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>
}
type Doc = {
  components: { securitySchemes: Record<string, unknown> }
  paths: Record<string, Record<string, Operation>>
}

const TOKEN = 'openapi-test-token'
const MUTATING = new Set(['post', 'put', 'patch', 'delete'])

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

async function setup() {
  const supervisor = new StubSupervisor()
  const app = await buildApp({ supervisor, adminToken: TOKEN, enableFaults: true })
  apps.push(app)
  const doc = (await app.inject('/openapi.json')).json() as Doc
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method, path, op })),
  )
  return { app, supervisor, doc, operations }
}

/** The OpenAPI operation a concrete request lands on (`/nodes/3/stop` → `post /nodes/{ref}/stop`). */
function operationFor(doc: Doc, method: string, url: string): Operation {
  const path = url.split('?')[0] as string
  for (const [template, ops] of Object.entries(doc.paths)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`)
    const op = ops[method.toLowerCase()]
    if (re.test(path) && op !== undefined) return op
  }
  throw new Error(`no operation for ${method} ${url}`)
}

const isErrorSchema = (schema: Record<string, unknown> | undefined): boolean => {
  const variants = (schema?.anyOf ?? schema?.oneOf ?? [schema]) as { properties?: Record<string, unknown> }[]
  return variants.some(
    (v) =>
      v?.properties !== undefined && ['statusCode', 'code', 'error', 'message'].every((k) => k in (v.properties ?? {})),
  )
}

describe('GET /openapi.json', () => {
  it('every operation has a unique operationId', async () => {
    const { operations } = await setup()
    const ids = operations.map(({ op, method, path }) => op.operationId ?? `(none: ${method} ${path})`)
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]+$/)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('every mutating operation declares the bearer scheme (so Swagger UI sends the token); reads declare none', async () => {
    const { doc, operations } = await setup()
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' })
    for (const { method, path, op } of operations) {
      if (MUTATING.has(method)) expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }])
      else expect(op.security, `${method} ${path}`).toBeUndefined()
    }
  })

  it('every response has a schema; every 4xx/5xx is the ErrorBody; statuses any route of its kind can return are declared', async () => {
    const { operations } = await setup()
    for (const { method, path, op } of operations) {
      const where = `${method} ${path}`
      const statuses = Object.keys(op.responses)
      const must = ['500', '503']
      if (MUTATING.has(method)) must.push('400', '401', '413', '415')
      if (path.includes('{')) must.push('400', '404', '414')
      if (op.parameters?.some((p) => p.in === 'query')) must.push('400')
      expect(statuses, where).toEqual(expect.arrayContaining(must))
      for (const [status, response] of Object.entries(op.responses)) {
        if (status === '204') {
          expect(response.content, `${where} ${status}`).toBeUndefined()
          continue
        }
        const contents = Object.values(response.content ?? {})
        expect(contents.length, `${where} ${status} has content`).toBeGreaterThan(0)
        for (const c of contents) expect(c.schema, `${where} ${status} schema`).toBeDefined()
        if (Number(status) >= 400) {
          expect(Object.keys(response.content ?? {}), `${where} ${status}`).toEqual(['application/json'])
          expect(isErrorSchema(contents[0]?.schema), `${where} ${status} is an ErrorBody`).toBe(true)
        }
      }
    }
  })

  it('every status the routes really answer is declared for that operation', async () => {
    const { app, doc, supervisor } = await setup()
    const auth = { authorization: `Bearer ${TOKEN}` }
    const json = { ...auth, 'content-type': 'application/json' }
    const peer = { address: `${UNKNOWN_ID}@127.0.0.1:30305` }
    type Probe = {
      method: string
      url: string
      headers?: Record<string, string>
      payload?: unknown
      before?: () => void
    }
    const probes: Probe[] = [
      ...['/healthz', '/readyz', '/sessions', '/topology', '/nodes', '/nodes/0', '/nodes/0/sessions'].map((url) => ({
        method: 'GET',
        url,
      })),
      ...[
        '/allowlist',
        '/metrics',
        '/events?node=7',
        '/events?x=1',
        '/nodes/x',
        '/nodes/9',
        `/nodes/${'a'.repeat(200)}`,
      ].map((url) => ({ method: 'GET', url })),
      {
        method: 'GET',
        url: '/nodes/0/sessions',
        before: () => supervisor.failNext.set('sessions', new SupervisorError('ERR_NODE_DOWN', 'down')),
      },
      {
        method: 'GET',
        url: '/topology',
        before: () => supervisor.failNext.set('topology', new SupervisorError('ERR_TIMEOUT', 'slow')),
      },
      {
        method: 'GET',
        url: '/topology',
        before: () => supervisor.failNext.set('topology', new SupervisorError('ERR_TIMEOUT', 'x')),
      },
      { method: 'POST', url: '/nodes/0/peers', headers: json, payload: peer },
      { method: 'POST', url: '/nodes/0/peers', headers: json, payload: { address: 'nope' } },
      { method: 'POST', url: '/nodes/0/peers', payload: peer },
      {
        method: 'POST',
        url: '/nodes/0/peers',
        headers: { ...auth, 'content-type': 'application/xml' },
        payload: '<a/>',
      },
      { method: 'POST', url: '/nodes/0/peers', headers: json, payload: { address: 'x'.repeat(70_000) } },
      { method: 'POST', url: '/nodes/0/peers', headers: json, payload: { address: `${ID[0]}@127.0.0.1:1` } },
      { method: 'POST', url: '/nodes/0/peers', headers: json, payload: { address: `${ID[1]}@127.0.0.1:1` } },
      {
        method: 'POST',
        url: '/nodes/0/peers',
        headers: json,
        payload: peer,
        before: () => supervisor.failNext.set('dial', new SupervisorError('ERR_NODE', 'no', 'ERR_NOT_ALLOWED')),
      },
      { method: 'POST', url: `/nodes/${'a'.repeat(200)}/peers`, headers: json, payload: peer },
      { method: 'DELETE', url: `/nodes/1/sessions/${sid(2)}`, headers: auth },
      { method: 'DELETE', url: `/nodes/1/sessions/${sid(2)}`, headers: auth },
      { method: 'DELETE', url: '/nodes/1/sessions/xyz', headers: auth },
      ...['stop', 'stop', 'start', 'restart', 'fault/crash'].map((a) => ({
        method: 'POST',
        url: `/nodes/2/${a}`,
        headers: auth,
      })),
      { method: 'POST', url: '/nodes/9/restart', headers: auth },
      { method: 'PUT', url: '/allowlist', headers: json, payload: { enabled: false, nodeIds: [ID[0]] } },
      { method: 'PUT', url: '/allowlist', headers: json, payload: { enabled: 'no' } },
      { method: 'POST', url: '/allowlist', headers: json, payload: { nodeId: ID[1] } },
      { method: 'POST', url: '/allowlist', headers: json, payload: { nodeId: ID[1] } },
      { method: 'DELETE', url: `/allowlist/${ID[1]}`, headers: auth },
      { method: 'DELETE', url: `/allowlist/${ID[1]}`, headers: auth },
      { method: 'DELETE', url: '/allowlist/zz', headers: auth },
      { method: 'POST', url: '/allowlist/reload', headers: auth },
      { method: 'POST', url: '/allowlist/reload' },
    ]
    const seen = new Map<string, Set<number>>()
    for (const probe of probes) {
      probe.before?.()
      const res = await app.inject({
        method: probe.method as 'GET',
        url: probe.url,
        headers: probe.headers,
        payload: probe.payload as string,
      })
      const op = operationFor(doc, probe.method, probe.url)
      expect(Object.keys(op.responses), `${probe.method} ${probe.url} answered ${res.statusCode}`).toContain(
        String(res.statusCode),
      )
      const key = op.operationId ?? probe.url
      seen.set(key, (seen.get(key) ?? new Set()).add(res.statusCode))
    }
    // The probes reach more than the happy path of each operation.
    expect([...seen.values()].filter((s) => s.size > 1).length).toBeGreaterThanOrEqual(8)
  })
})
