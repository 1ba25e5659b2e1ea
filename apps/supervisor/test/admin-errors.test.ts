import { type AddressInfo, connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { type AdminAppOptions, buildApp } from '../src/admin/app.ts'
import { ADMIN_ERRORS, type ErrorBody, toErrorBody } from '../src/admin/errors.ts'
import { ErrorSchema } from '../src/admin/schemas.ts'
import { SupervisorError } from '../src/supervisor-api.ts'
import { ID, StubSupervisor } from './admin-stub.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close().catch(() => {})))
})

async function setup(opts: Partial<AdminAppOptions> = {}) {
  const supervisor = new StubSupervisor()
  const app = await buildApp({ supervisor, ...opts })
  apps.push(app)
  return { app, supervisor }
}

/** The one error shape: nothing missing, nothing extra, and the code's registered status. */
function expectErrorBody(status: number, text: string, code?: string): ErrorBody {
  const body = ErrorSchema.strict().parse(JSON.parse(text)) as ErrorBody
  expect(body.statusCode).toBe(status)
  expect(ADMIN_ERRORS[body.code]).toBe(status)
  if (code !== undefined) expect(body.code).toBe(code)
  return body
}

/** Writes raw bytes to the listening app and resolves with the status and body it answered. */
async function raw(app: FastifyInstance, bytes: string): Promise<{ status: number; body: string; head: string }> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' })
    let text = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      text += d
    })
    s.on('error', () => {})
    s.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1])
      if (Number.isNaN(status)) reject(new Error(`no HTTP response: ${JSON.stringify(text)}`))
      else resolve({ status, body, head })
    })
    s.end(bytes)
  })
}

describe('admin API: every error answer has the ErrorBody shape', () => {
  it('414 for a path parameter over the router limit (was a bare Fastify body)', async () => {
    const { app } = await setup()
    const res = await app.inject(`/nodes/${'a'.repeat(200)}`)
    expect(res.statusCode).toBe(414)
    expectErrorBody(414, res.body, 'ERR_URI_TOO_LONG')
  })

  it('400 for a malformed percent-encoding in a path parameter', async () => {
    const { app } = await setup()
    const res = await app.inject('/nodes/%E0%A4%A')
    expect(res.statusCode).toBe(400)
    expectErrorBody(400, res.body, 'ERR_BAD_REQUEST')
  })

  it('413, 415, malformed JSON and an empty JSON body', async () => {
    const { app } = await setup()
    const post = (payload: string, headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/nodes/0/peers', payload, headers })
    const cases: [Awaited<ReturnType<typeof post>>, number, string][] = [
      [
        await post(JSON.stringify({ address: 'x'.repeat(70 * 1024) }), { 'content-type': 'application/json' }),
        413,
        'ERR_BODY_TOO_LARGE',
      ],
      [await post('<a/>', { 'content-type': 'application/xml' }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
      [await post('{"address":', { 'content-type': 'application/json' }), 400, 'ERR_BAD_REQUEST'],
      [await post('', { 'content-type': 'application/json' }), 400, 'ERR_BAD_REQUEST'],
    ]
    for (const [res, status, code] of cases) {
      expect(res.statusCode, res.body).toBe(status)
      expectErrorBody(status, res.body, code)
    }
  })

  it('raw HTTP: headers over the limit 431, a malformed request 400, both as JSON ErrorBody', async () => {
    const { app } = await setup()
    const big = await raw(app, `GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`)
    expect(big.status).toBe(431)
    expect(big.head).toMatch(/content-type: application\/json/i)
    expectErrorBody(431, big.body, 'ERR_HEADERS_TOO_LARGE')
    const garbage = await raw(app, 'NOT HTTP AT ALL\r\n\r\n')
    expect(garbage.status).toBe(400)
    expectErrorBody(400, garbage.body, 'ERR_BAD_REQUEST')
  })

  it('raw HTTP: an unsupported Expect is 417 ErrorBody; a request without Host is served', async () => {
    const { app } = await setup()
    const expect417 = await raw(app, 'GET /healthz HTTP/1.1\r\nhost: x\r\nexpect: teapot\r\nconnection: close\r\n\r\n')
    expect(expect417.status).toBe(417)
    expectErrorBody(417, expect417.body, 'ERR_EXPECTATION_FAILED')
    const noHost = await raw(app, 'GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n')
    expect(noHost.status).toBe(200)
  })

  it('a request arriving while the app closes: 503 ERR_SHUTTING_DOWN, not Fastify’s own body', async () => {
    const { app, supervisor } = await setup()
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    let asked!: () => void
    const readinessAsked = new Promise<void>((r) => {
      asked = r
    })
    const readiness = await supervisor.readiness()
    supervisor.readiness = async () => {
      asked()
      await held
      return readiness
    }
    let refusedSecond!: () => void
    const secondRefused = new Promise<void>((r) => {
      refusedSecond = r
    })
    app.addHook('onError', async (req) => {
      if (req.url === '/nodes') refusedSecond()
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const s = connect({ port, host: '127.0.0.1' })
    let text = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      text += d
    })
    const ended = new Promise((r) => s.on('close', r))
    s.write('GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n')
    await readinessAsked
    const closing = app.close()
    await new Promise((r) => setImmediate(r))
    // Pipelined behind the held request, on a connection close() must wait for.
    s.write('GET /nodes HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')
    await secondRefused
    release()
    await ended
    await closing
    const second = text.slice(text.indexOf('HTTP/1.1', 10))
    expect(second).toMatch(/^HTTP\/1\.1 503/)
    expectErrorBody(503, second.split('\r\n\r\n')[1] ?? '', 'ERR_SHUTTING_DOWN')
  })

  it('a body with thousands of bad fields gets at most 100 details, and says how many were left out', async () => {
    const { app } = await setup()
    const nodeIds = Array.from({ length: 5000 }, (_, i) => `bad-${i}`)
    const res = await app.inject({ method: 'PUT', url: '/allowlist', payload: { enabled: true, nodeIds } })
    expect(res.statusCode).toBe(400)
    const body = expectErrorBody(400, res.body, 'ERR_VALIDATION')
    expect(body.details).toHaveLength(100)
    expect(body.details?.[0]?.path).toBe('body.nodeIds.0')
    expect(body.message).toMatch(/; and 4900 more$/)
    expect(res.body.length).toBeLessThan(32 * 1024)
  })

  it('no 4xx from Fastify escapes with a code whose status differs', () => {
    for (const [statusCode, code] of [
      [400, 'ERR_BAD_REQUEST'],
      [408, 'ERR_REQUEST_TIMEOUT'],
      [413, 'ERR_BODY_TOO_LARGE'],
      [414, 'ERR_URI_TOO_LONG'],
      [415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
      [431, 'ERR_HEADERS_TOO_LARGE'],
      [406, 'ERR_BAD_REQUEST'],
    ] as const) {
      const body = toErrorBody(Object.assign(new Error('m'), { statusCode, code: 'FST_ERR_SOMETHING' }))
      expect(body.code).toBe(code)
      expect(body.statusCode).toBe(ADMIN_ERRORS[code])
    }
  })
})

describe('admin API: how a dial ended (SupervisorError.nodeReason)', () => {
  const withReason = (reason: string, nodeCode = 'ERR_NO_SESSION') =>
    new SupervisorError('ERR_NODE', `dial failed: ${reason}`, nodeCode, reason)

  it.each([
    ['wrong-node', 502, 'ERR_NODE'],
    ['handshake-timeout', 502, 'ERR_NODE'],
    ['confirm-timeout', 502, 'ERR_NODE'],
    ['network-mismatch', 502, 'ERR_NODE'],
    ['connection-lost', 502, 'ERR_NODE'],
    ['not-allowed', 409, 'ERR_NOT_ALLOWED'],
  ])('reason %s → %i %s with `reason` in the body', (reason, statusCode, code) => {
    const body = toErrorBody(withReason(reason))
    expect(body).toMatchObject({ statusCode, code, reason, nodeCode: 'ERR_NO_SESSION' })
    ErrorSchema.strict().parse(body)
  })

  it('POST /nodes/:ref/peers answers with the reason, promptly', async () => {
    const { app, supervisor } = await setup()
    supervisor.failNext.set('dial', withReason('wrong-node'))
    const res = await app.inject({
      method: 'POST',
      url: '/nodes/0/peers',
      payload: { address: `${ID[1]}@127.0.0.1:30302` },
    })
    expect(res.statusCode).toBe(502)
    expect(expectErrorBody(502, res.body, 'ERR_NODE')).toMatchObject({ reason: 'wrong-node' })
    supervisor.failNext.set('dial', withReason('not-allowed'))
    const refused = await app.inject({
      method: 'POST',
      url: '/nodes/0/peers',
      payload: { address: `${ID[1]}@127.0.0.1:30302` },
    })
    expect(refused.statusCode).toBe(409)
    expect(expectErrorBody(409, refused.body, 'ERR_NOT_ALLOWED')).toMatchObject({ reason: 'not-allowed' })
  })

  it('bad input the node refused stays a 400 even with a reason; no reason, no field', () => {
    expect(toErrorBody(withReason('invalid', 'ERR_INVALID_ADDRESS'))).toMatchObject({
      statusCode: 400,
      code: 'ERR_INVALID_ADDRESS',
    })
    expect(toErrorBody(new SupervisorError('ERR_NODE', 'm', 'ERR_NO_SESSION'))).not.toHaveProperty('reason')
  })
})
