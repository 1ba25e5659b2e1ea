import { createServer, connect as netConnect } from 'node:net'
import type { HandshakeErrorEvent, Node, SessionCloseEvent, SessionRow } from '@peerhouse/node'
import { decodeClose, FrameDecoder, formatAddress, MAX_HANDSHAKE_FRAME_BODY } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet, until, untilState, usableSessions } from './helpers.ts'
import { ManualClock } from './manual-clock.ts'

const fleet = new Fleet()
afterEach(() => fleet.stopAll())

const nextEvent = <T>(node: Node, event: 'handshake:error' | 'session:close'): Promise<T> =>
  new Promise((resolve) => node.once(event, resolve as (v: unknown) => void))

describe('Node', () => {
  it('refuses to dial its own id, and closes a connection that reaches itself with reason self', async () => {
    const [a, b] = (await fleet.start(2)) as [Node, Node]
    await expect(a.connect(a.address)).rejects.toMatchObject({ code: 'ERR_SELF_CONNECT' })
    // b's id at a's own host:port: the HELLO reveals that the listener is a itself.
    const error = nextEvent<HandshakeErrorEvent>(a, 'handshake:error')
    await expect(a.connect(formatAddress({ nodeId: b.nodeId, host: a.host, port: a.port }))).rejects.toBeTruthy()
    expect((await error).reason).toBe('self')
    expect(a.stats.selfConnects).toBeGreaterThanOrEqual(2)
    expect(usableSessions(a)).toEqual([])
  })

  it('refuses a node of another network at both ends with network-mismatch', async () => {
    const [a] = (await fleet.start(1, () => ({ networkId: 'net-a' }))) as [Node]
    const [b] = (await fleet.start(1, () => ({ networkId: 'net-b' }))) as [Node]
    const atB = nextEvent<HandshakeErrorEvent>(b, 'handshake:error')
    await expect(a.connect(b.address)).rejects.toBeTruthy()
    expect(await atB).toMatchObject({ reason: 'network-mismatch', direction: 'inbound' })
    expect(a.stats.handshakesFailed['network-mismatch']).toBe(1)
    expect(b.stats.handshakesFailed['network-mismatch']).toBe(1)
  })

  it('refuses a listener whose id is not the one in the address (wrong-node)', async () => {
    const [a, b, c] = (await fleet.start(3)) as [Node, Node, Node]
    const lie = formatAddress({ nodeId: c.nodeId, host: b.host, port: b.port })
    await expect(a.connect(lie)).rejects.toBeTruthy()
    expect(a.stats.handshakesFailed['wrong-node']).toBe(1)
  })

  it('reuses an existing session instead of dialing again (method 300, step 304)', async () => {
    const [a, b] = (await fleet.start(2)) as [Node, Node]
    const first = await a.connect(b.address)
    const second = await a.connect(b.address)
    expect(second.sessionId).toBe(first.sessionId)
    expect(a.stats.dials).toBe(1)
  })

  it('joins a handshake already in progress instead of dialing twice', async () => {
    const [a, b] = (await fleet.start(2)) as [Node, Node]
    const [x, y] = await Promise.all([a.connect(b.address), a.connect(b.address)])
    expect(x.sessionId).toBe(y.sessionId)
    expect(a.stats.dials).toBe(1)
    expect(a.stats.dialsSkipped).toBe(1)
  })

  it('disconnect closes one session with reason disconnect at both ends', async () => {
    const [a, b] = (await fleet.start(2)) as [Node, Node]
    const row = await a.connect(b.address)
    const atA = nextEvent<SessionCloseEvent>(a, 'session:close')
    const atB = nextEvent<SessionCloseEvent>(b, 'session:close')
    expect(a.disconnect(row.sessionId)).toBe(true)
    expect(await atA).toMatchObject({ reason: 'disconnect', byPeer: false })
    expect(await atB).toMatchObject({ reason: 'disconnect', byPeer: true })
    expect(a.disconnect(row.sessionId)).toBe(false)
  })

  it('stop closes every session with reason shutdown', async () => {
    const [a, b, c] = (await fleet.start(3)) as [Node, Node, Node]
    await Promise.all([a.connect(b.address), a.connect(c.address)])
    const reasons = Promise.all([b, c].map((n) => nextEvent<SessionCloseEvent>(n, 'session:close')))
    await a.stop()
    expect((await reasons).map((e) => e.reason)).toEqual(['shutdown', 'shutdown'])
  })

  it('send and broadcast deliver to every connected node; send without a session is a typed error', async () => {
    const [a, b, c] = (await fleet.start(3)) as [Node, Node, Node]
    await Promise.all([a.connect(b.address), a.connect(c.address)])
    const got = Promise.all(
      [b, c].map((n) => new Promise<string>((r) => n.once('message', (m) => r(Buffer.from(m.data).toString())))),
    )
    expect(a.broadcast(Buffer.from('all'))).toBe(2)
    expect(await got).toEqual(['all', 'all'])
    expect(() => b.send(c.nodeId, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_NO_SESSION' }))
    expect(() => a.send(b.nodeId, new Uint8Array(1024 * 1024 + 1))).toThrow(
      expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }),
    )
    const rows = a.sessions()
    expect(rows.every((r) => r.direction === 'outbound' && r.initiator === a.nodeId && r.messagesOut === 1)).toBe(true)
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows)
  })

  it('measures RTT with keepalive pings', async () => {
    const [a, b] = (await fleet.start(2, () => ({ keepaliveIntervalMs: 20, keepaliveTimeoutMs: 5000 }))) as [Node, Node]
    await a.connect(b.address)
    const rtt = new Promise<number>((resolve) => {
      const check = () => {
        const v = a.sessions()[0]?.rttMs
        if (v !== null && v !== undefined) return resolve(v)
        setImmediate(check)
      }
      check()
    })
    expect(await rtt).toBeGreaterThanOrEqual(0)
  })

  it('an idle session is PINGed by one end at a time: 2 frames per 1.5 intervals, not 4 per interval', async () => {
    // Counted per tick on a manual clock: each node ticks only when the clock is advanced, and
    // every frame a tick causes is delivered before the next one, so the count is exact.
    const INTERVAL = 1000
    const frames = async (timeoutMs: number) => {
      const clock = new ManualClock()
      const opts = { keepaliveIntervalMs: INTERVAL, keepaliveTimeoutMs: timeoutMs, clock }
      const [a] = (await fleet.start(1, () => opts)) as [Node]
      clock.advance(INTERVAL / 2) // b's ticks fall half-way between a's, as two real nodes' would
      const [b] = (await fleet.start(1, () => opts)) as [Node]
      await a.connect(b.address)
      const row = (n: Node) => n.sessions()[0] as SessionRow
      const settled = () => row(a).bytesOut === row(b).bytesIn && row(b).bytesOut === row(a).bytesIn
      await until([a, b], settled, 5000)
      const before = row(a).bytesOut + row(b).bytesOut
      for (let step = 0; step < 60; step++) {
        clock.advance(INTERVAL / 2) // 30 intervals: 30 ticks of each node
        await untilState(settled)
      }
      const after = row(a).bytesOut + row(b).bytesOut
      await fleet.stopAll()
      // A PING or PONG frame is 29 bytes on the wire.
      return (after - before) / 29
    }
    // Taking turns: one PING (and its PONG) per 1.5 intervals: 20 of each in 30 intervals.
    expect(await frames(5 * INTERVAL)).toBe(40)
    // With a timeout under 2.5 intervals every tick PINGs every session: 2 PINGs + 2 PONGs per interval.
    expect(await frames(2 * INTERVAL)).toBe(120)
  })

  it('a peer sending an oversized frame is closed with frame-too-large; other sessions are untouched', async () => {
    const [a, b] = (await fleet.start(2)) as [Node, Node]
    const good = await a.connect(b.address)
    const raw = netConnect({ host: b.host, port: b.port })
    const decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BODY)
    const frames: Uint8Array[] = []
    raw.on('data', (chunk) => {
      decoder.push(chunk)
      for (let f = decoder.next(); f; f = decoder.next()) frames.push(f.body)
    })
    await new Promise((r) => raw.once('connect', r))
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff]))
    await new Promise((r) => raw.once('close', r))
    const close = frames.map((f) => f).find((f) => f[0] === 0x03)
    expect(close && decodeClose(close).reason).toBe('frame-too-large')
    expect(b.stats.handshakesFailed['frame-too-large']).toBe(1)
    expect(usableSessions(b).map((s) => s.sessionId)).toEqual([good.sessionId])
    await until([a, b], () => true, 10)
  })
})

describe('connect() answers with how the dial ended, at once', () => {
  it('a wrong id at a peer’s address is wrong-node from either side, also when the peer refuses before its HELLO', async () => {
    const [x, y] = (await fleet.start(2)) as [Node, Node]
    const [small, large] = x.nodeId < y.nodeId ? [x, y] : [y, x]
    await small.connect(large.address)
    const wrong = 'ab'.repeat(32)
    for (const [from, to] of [
      [small, large],
      [large, small],
    ] as const) {
      // From the larger id the peer refuses right after our HELLO (its session with us is up,
      // §8.8), before we see whom we reached; the winner it names tells us.
      const err = await from.connect(formatAddress({ nodeId: wrong, host: to.host, port: to.port })).catch((e) => e)
      expect(err).toMatchObject({ reason: 'wrong-node' })
    }
    expect(small.connectedNodeIds()).toEqual([large.nodeId])
  })

  it('an unreachable address is reason unreachable', async () => {
    const [a] = (await fleet.start(1)) as [Node]
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number }
        s.close(() => resolve(port))
      })
    })
    const err = await a
      .connect(formatAddress({ nodeId: 'cd'.repeat(32), host: '127.0.0.1', port: closedPort }))
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_NO_SESSION', reason: 'unreachable' })
  })
})
