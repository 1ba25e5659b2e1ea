import { type ChildProcess, spawn } from 'node:child_process'
import { connect as netConnect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { type IdentityConflictEvent, Node, type SessionCloseEvent } from '@peerhouse/node'
import { generateSecretKey, Handshake, identityFromSecretKey } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet, until, untilState, usableSessions } from './helpers.ts'
import { ManualClock } from './manual-clock.ts'

const fleet = new Fleet()
const sockets: Socket[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await fleet.stopAll()
})

/** Opens N idle sockets (bounded, loopback), says when all are up, and when the node closed them all. */
const FLOODER = `
const net = require('node:net')
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
let opened = 0, closed = 0
for (let i = 0; i < n; i++) {
  const s = net.connect({ host, port })
  s.on('error', () => {})
  s.resume()
  s.once('connect', () => { if (++opened === n) console.log('opened ' + opened) })
  s.once('close', () => { if (++closed === n) { console.log('closed ' + closed); process.exit(0) } })
}
setTimeout(() => process.exit(1), 30000)
`

const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))

describe('permissioned mode', () => {
  it('refuses an outsider with a valid key after the key proof; admitting it needs no restart; removing it closes its session', async () => {
    const [member, outsider] = (await fleet.start(2)) as [Node, Node]
    member.setAllowlist([])
    const refused = new Promise<string>((resolve) => outsider.once('handshake:error', (e) => resolve(e.reason)))
    await expect(outsider.connect(member.address)).rejects.toBeTruthy()
    expect(await refused).toBe('not-allowed')
    expect(member.stats.notAllowed).toBe(1)
    expect(usableSessions(member)).toEqual([])

    member.setAllowlist([outsider.nodeId])
    const row = await outsider.connect(member.address)
    expect(usableSessions(member).map((s) => s.sessionId)).toEqual([row.sessionId])

    const gone = new Promise<SessionCloseEvent>((resolve) => outsider.once('session:close', resolve))
    member.setAllowlist([])
    expect(await gone).toMatchObject({ reason: 'not-allowed', byPeer: true })
  })

  it('never delivers what a refused peer sent in the flight before it learned it was refused (10 trials)', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const [member] = (await fleet.start(1, () => ({ allowlist: [] }))) as [Node]
      const from: string[] = []
      member.on('message', (e) => from.push(e.from))
      const [outsider] = (await fleet.start(1, () => ({ peers: [member.address] }))) as [Node]
      const refused = new Promise<void>((resolve) => outsider.once('handshake:error', () => resolve()))
      // The outsider is established one flight before the member checks the allowlist: send then.
      while (
        !outsider.connectedNodeIds().includes(member.nodeId) &&
        outsider.stats.handshakesFailed['not-allowed'] === undefined
      ) {
        await new Promise((r) => setImmediate(r))
      }
      if (outsider.connectedNodeIds().includes(member.nodeId)) outsider.send(member.nodeId, Buffer.from('sneak'))
      await refused
      await fleet.stopAll() // every socket closed: every frame in flight has been read
      expect(member.stats.notAllowed).toBeGreaterThan(0)
      expect(from).toEqual([])
    }
  })

  it('never dials a node that is not allowed', async () => {
    const [a, b] = (await fleet.start(2, () => ({ allowlist: [] }))) as [Node, Node]
    await expect(a.connect(b.address)).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' })
    a.addPeer(b.address)
    expect(a.stats.dials).toBe(0)
    expect(() => a.setAllowlist(['not-an-id'])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_NODE_ID' }))
  })
})

describe('abuse limits', () => {
  it('5,000 idle connections: existing sessions keep working and a new peer connects within 2 s', async () => {
    const [target, friend, newcomer] = (await fleet.start(3)) as [Node, Node, Node]
    await friend.connect(target.address)
    const FLOOD = 5000
    // The flood comes from another process, as an attacker's would; it reports when it is on
    // and how many of its sockets the node closed, and exits once all are closed.
    const flooder = spawn(process.execPath, ['-e', FLOODER, target.host, String(target.port), String(FLOOD)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(flooder)
    const lines = createInterface({ input: flooder.stdout as NodeJS.ReadableStream })
    const report = (prefix: string) =>
      new Promise<number>((resolve) =>
        lines.on('line', (l) => l.startsWith(prefix) && resolve(Number(l.split(' ')[1]))),
      )
    const opened = await report('opened')
    const allClosed = report('closed')
    // While the flood is on: the friend's session carries messages, and a newcomer gets in.
    const echo = new Promise<void>((resolve) => target.once('message', () => resolve()))
    friend.send(target.nodeId, Buffer.from('still here'))
    await echo
    const t0 = performance.now()
    await newcomer.connect(target.address)
    const joinMs = performance.now() - t0
    expect(joinMs).toBeLessThan(2000)
    expect(usableSessions(target)).toHaveLength(2)
    // Every idle socket is closed by the node: evicted at the cap, or at the setup deadline.
    expect(await allClosed).toBe(FLOOD)
    expect(target.handshakesInProgress).toBe(0)
    console.info(
      `flood: ${opened} idle connections, newcomer joined in ${joinMs.toFixed(0)} ms, ${target.stats.handshakesEvicted} evicted`,
    )
  })

  it('closes slow-loris (a byte at a time) and half-open connections exactly at the handshake deadline', async () => {
    // On a manual clock the deadline is exact whatever the machine's load: nothing closes at
    // 599 ms, both close at 600 ms.
    const clock = new ManualClock()
    const [target] = (await fleet.start(1, () => ({ handshakeTimeoutMs: 600, clock }))) as [Node]
    const silent = netConnect({ host: target.host, port: target.port })
    const loris = netConnect({ host: target.host, port: target.port })
    for (const s of [silent, loris]) {
      s.on('error', () => {})
      s.resume()
      sockets.push(s)
    }
    await untilState(() => target.stats.accepts === 2)
    const ends = [closed(silent), closed(loris)]
    let gone = 0
    for (const s of [silent, loris]) s.once('close', () => gone++)
    // A valid HELLO, one byte at a time: never malformed, just too slow.
    const hello = new Handshake({
      identity: identityFromSecretKey(generateSecretKey()),
      role: 'dialer',
      networkId: target.networkId,
      incarnation: 1n,
    }).helloFrame()
    const reasons: string[] = []
    target.on('handshake:error', (e) => reasons.push(e.reason))
    for (let at = 0; at < 5; at++) {
      await new Promise<void>((resolve) => loris.write(hello.subarray(at, at + 1), () => resolve()))
      clock.advance(100)
    }
    clock.advance(99) // 599 ms after the accept
    await new Promise((resolve) => setImmediate(resolve))
    expect([gone, reasons.length]).toEqual([0, 0])
    clock.advance(1)
    await Promise.all(ends)
    expect(target.stats.handshakesFailed['handshake-timeout']).toBe(2)
    expect(reasons).toEqual(['handshake-timeout', 'handshake-timeout'])
  })
})

describe('identity conflict', () => {
  it('two processes with one key: the lower incarnation is refused and both sides report it, instead of replacing each other forever', async () => {
    const key = identityFromSecretKey(generateSecretKey())
    // Only a consortium's members are trusted to say "a copy of X": a stranger's key costs nothing.
    const [peer] = (await fleet.start(1, () => ({ allowlist: [key.nodeId] }))) as [Node]
    const twinOf = 'f'.repeat(64) // an address that names another id, but reaches the twin
    const clock = new ManualClock() // first's alarms are rate-limited per id; its clock decides when
    const first = fleet.add(new Node({ identity: key, incarnation: 100n, allowlist: [peer.nodeId, twinOf], clock }))
    const second = fleet.add(new Node({ identity: key, incarnation: 200n, allowlist: [peer.nodeId] }))
    await Promise.all([first.start(), second.start()])
    const atPeer = new Promise<IdentityConflictEvent>((resolve) => peer.once('identity:conflict', resolve))
    const atFirst = new Promise<IdentityConflictEvent>((resolve) => first.once('identity:conflict', resolve))

    await second.connect(peer.address)
    await expect(first.connect(peer.address)).rejects.toBeTruthy()
    expect(await atPeer).toMatchObject({ nodeId: key.nodeId, incarnations: ['100', '200'], byPeer: false })
    expect(await atFirst).toMatchObject({ nodeId: key.nodeId, byPeer: true, reportedBy: peer.nodeId })
    expect(usableSessions(peer).map((s) => s.remoteIncarnation)).toEqual(['200'])

    // The twins meeting directly: each proves the key to the other. That proof is its own source:
    // the peer's report a moment ago does not hold it back. A second proof within 10 s is counted,
    // not sent again; after that window it is sent.
    const alarms: IdentityConflictEvent[] = []
    first.on('identity:conflict', (e) => alarms.push(e))
    const twinB = new Promise<IdentityConflictEvent>((resolve) => second.once('identity:conflict', resolve))
    const meet = () => expect(first.connect(`${twinOf}@${second.host}:${second.port}`)).rejects.toBeTruthy()
    await meet()
    expect(await twinB).toMatchObject({ nodeId: key.nodeId, byPeer: false, incarnations: ['200', '100'] })
    await until([first], () => alarms.length === 1, 5000, undefined, ['handshake:error'])
    expect(alarms[0]).toMatchObject({ nodeId: key.nodeId, byPeer: false })
    await meet()
    await until([first], () => first.stats.identityConflicts === 3, 5000, undefined, ['handshake:error'])
    expect(alarms).toHaveLength(1)
    clock.advance(10_000)
    await meet()
    await until([first], () => alarms.length === 2, 5000, undefined, ['handshake:error'])
    await until(
      [second],
      () => second.stats.identityConflicts === 3,
      5000,
      () => JSON.stringify(second.stats),
      ['handshake:error'],
    )
    await until([peer], () => true, 10)
  })
})
