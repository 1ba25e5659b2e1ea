import type { IdentityConflictEvent, Node, SessionCloseEvent } from '@peerhouse/node'
import {
  encodeClose,
  frameHeader,
  generateSecretKey,
  type Identity,
  identityFromSecretKey,
  MESSAGE_TYPES,
  parseAddress,
} from '@peerhouse/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openRawSession, type RawSession } from './attackers/raw-session.ts'
import { Fleet, until, untilState, usableSessions } from './helpers.ts'

const fleet = new Fleet()
const raws: RawSession[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const r of raws.splice(0)) r.socket.destroy()
  await fleet.stopAll()
})

const throwaway = () => identityFromSecretKey(generateSecretKey())

async function raw(target: Node, identity: Identity = throwaway(), incarnation = 1n): Promise<RawSession> {
  const r = await openRawSession(parseAddress(target.address), { identity, incarnation, networkId: target.networkId })
  raws.push(r)
  return r
}

/** An encrypted CLOSE in place of READY: the peer refuses us after the key proof. */
const refuse = (r: RawSession, reason: 'identity-conflict') => {
  const body = encodeClose({ reason })
  r.socket.write(r.cipher.seal(body[0] as number, body.subarray(1)))
}

describe('identity-conflict alarms need a peer the node chose', () => {
  it('strangers with valid keys (free in open mode) raise none: not by reporting us as a copy, not by proving their own key twice', async () => {
    const [target] = (await fleet.start(1)) as [Node]
    const alarms: IdentityConflictEvent[] = []
    target.on('identity:conflict', (e) => alarms.push(e))
    for (let i = 0; i < 50; i++) refuse(await raw(target), 'identity-conflict')
    // A stranger's key, live at incarnation 200, then proved again at 100: refused, no alarm.
    const key = throwaway()
    const live = await raw(target, key, 200n)
    live.ready()
    await until([target], () => usableSessions(target).some((s) => s.remoteNodeId === key.nodeId), 5000)
    for (let i = 0; i < 20; i++) await raw(target, key, 100n)
    await untilState(() => target.stats.identityClaimsIgnored === 70)
    expect(alarms).toEqual([])
    expect(target.stats.identityConflicts).toBe(0)
  })

  it('a member’s report raises the alarm, attributed to it, once per 10 s however often it repeats', async () => {
    const member = throwaway()
    const [target] = (await fleet.start(1, () => ({ allowlist: [member.nodeId] }))) as [Node]
    const alarms: IdentityConflictEvent[] = []
    target.on('identity:conflict', (e) => alarms.push(e))
    for (let i = 0; i < 20; i++) refuse(await raw(target, member, BigInt(i + 1)), 'identity-conflict')
    await untilState(() => target.stats.identityConflicts === 20)
    expect(alarms).toHaveLength(1)
    expect(alarms[0]).toMatchObject({ nodeId: target.nodeId, byPeer: true, reportedBy: member.nodeId })
  })
})

describe('frames a peer sends slowly, or hugely', () => {
  it('before its READY a peer may not send a frame over 256 bytes (no valid one is over 34)', async () => {
    const [target] = (await fleet.start(1)) as [Node]
    const r = await raw(target)
    r.socket.write(frameHeader(1024))
    expect(await r.closed).toBe('frame-too-large')
  })

  it('strangers parking parts of huge frames share one budget: past it the longest-parked are closed overloaded', async () => {
    const MiB = 1024 * 1024
    const [target, friend] = (await fleet.start(2, () => ({ maxPartialFrameBytes: 2 * MiB }))) as [Node, Node]
    target.addPeer(friend.address)
    await until([target], () => target.connectedNodeIds().includes(friend.nodeId), 5000)
    const parked: RawSession[] = []
    for (let i = 0; i < 8; i++) {
      const r = await raw(target)
      r.ready()
      await until([target], () => usableSessions(target).some((s) => s.sessionId === r.result.sessionId), 5000)
      const at = () => target.sessions().find((s) => s.sessionId === r.result.sessionId)
      const before = at()?.bytesIn ?? 0
      // The header of a 1 MiB frame and half of it, then nothing: parked at the node.
      const part = Buffer.concat([frameHeader(MiB), Buffer.alloc(512 * 1024 - 4)])
      r.socket.write(part)
      // The node decides in the same turn it counts the bytes in.
      await untilState(() => (at()?.bytesIn ?? Number.POSITIVE_INFINITY) >= before + part.length)
      parked.push(r)
    }
    const open = parked.map((r) =>
      target.sessions().some((s) => s.sessionId === r.result.sessionId && s.state === 'open'),
    )
    const closed = open.indexOf(true)
    // The oldest were closed (a prefix of the arrivals) and the newest hold the budget: each keeps at
    // least the 512 KiB it sent, so at most 4 fit in 2 MiB.
    expect(open.slice(closed).every(Boolean)).toBe(true)
    expect(closed).toBeGreaterThanOrEqual(4)
    expect(new Set(await Promise.all(parked.slice(0, closed).map((r) => r.closed)))).toEqual(new Set(['overloaded']))
    expect(target.stats.sessionsRefused).toBe(closed)
    // The peer the node chose is exempt and untouched.
    expect(target.connectedNodeIds()).toContain(friend.nodeId)
  })

  it('an oversized encrypted CLOSE is refused by its length, never spread into an argument list', async () => {
    // 32 KiB stands for the 1 MiB of the attack (~45 ms of blocked loop each): the same path, and
    // small enough that spreading it still reaches the spy instead of overflowing the stack.
    const [target] = (await fleet.start(1)) as [Node]
    const of = vi.spyOn(Uint8Array, 'of')
    const r = await raw(target)
    r.ready()
    await until([target], () => usableSessions(target).length === 1, 5000)
    r.socket.write(r.cipher.seal(MESSAGE_TYPES.close, new Uint8Array(32 * 1024)))
    const closes: SessionCloseEvent[] = []
    target.on('session:close', (e) => closes.push(e))
    await untilState(() => closes.length === 1)
    expect(closes[0]?.reason).toBe('protocol-error')
    expect(of.mock.calls.filter((args) => args.length > 64)).toEqual([])
  })
})

describe('peers that do not read, fed by a broadcast', () => {
  it('add up to maxQueuedBytes for all of them, not maxWriteBufferBytes each', async () => {
    const MiB = 1024 * 1024
    const [target] = (await fleet.start(1, () => ({ maxQueuedBytes: 4 * MiB }))) as [Node]
    const readers = await Promise.all(
      Array.from({ length: 6 }, () =>
        openRawSession(parseAddress(target.address), {
          identity: throwaway(),
          incarnation: 1n,
          networkId: target.networkId,
          read: false,
        }),
      ),
    )
    raws.push(...readers)
    for (const r of readers) r.ready()
    await until([target], () => usableSessions(target).filter((s) => s.state === 'open').length === 6, 5000)
    const message = Buffer.alloc(64 * 1024)
    let reached = -1
    // Bounded: at most 2,000 broadcasts, and it stops once every peer is refused.
    for (let i = 0; i < 2000 && reached !== 0; i++) {
      reached = target.broadcast(message)
      if (i % 8 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const queued = target.sessions().reduce((sum, s) => sum + s.queuedBytes, 0)
    console.info(`broadcast to 6 non-readers: ${(queued / MiB).toFixed(1)} MiB queued in all (budget 4 MiB)`)
    expect(reached).toBe(0)
    // The budget, plus at most one message beyond 64 KiB for each peer that was not yet behind.
    expect(queued).toBeLessThanOrEqual(4 * MiB + 6 * (64 * 1024 + message.length + 64))
  })
})

describe('one member cannot silence another member’s copied-key report', () => {
  it('alarms are rate-limited per reporter: a member re-arming the window does not hide another’s report', async () => {
    const [mallory, honest] = [throwaway(), throwaway()]
    const [target] = (await fleet.start(1, () => ({ allowlist: [mallory.nodeId, honest.nodeId] }))) as [Node]
    const alarms: IdentityConflictEvent[] = []
    target.on('identity:conflict', (e) => alarms.push(e))
    for (let i = 0; i < 10; i++) refuse(await raw(target, mallory, BigInt(i + 1)), 'identity-conflict')
    refuse(await raw(target, honest), 'identity-conflict')
    await untilState(() => target.stats.identityConflicts === 11)
    expect(alarms.map((a) => a.reportedBy)).toEqual([mallory.nodeId, honest.nodeId])
  })
})
