import type { HandshakeErrorEvent, MessageEvent, Node, NodeInit, SessionCloseEvent } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { fullMesh, meshReport, until, usableSessions } from '../../packages/node/test/helpers.ts'
import { FaultNet } from '../helpers/fault-net.ts'

const DELAY = 200
/**
 * Deadlines only turn a hang into a failure; nothing below asserts a duration. The nodes' own
 * timers bound each wait at a fraction of this (re-dials back off to redialMaxMs at most).
 */
const DEADLINE = 20_000

let net: FaultNet | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

const init =
  (extra: NodeInit = {}) =>
  () => ({ redialMinMs: 50, redialMaxMs: 1000, ...extra })

function sessionBetween(a: Node, b: Node): string {
  const row = usableSessions(a).find((s) => s.remoteNodeId === b.nodeId)
  if (row === undefined) throw new Error(`no session ${a.nodeId.slice(0, 8)}→${b.nodeId.slice(0, 8)}`)
  return row.sessionId
}

/** Sends one message from `a` to `b` and resolves with its one-way time, as `b` saw it arrive. */
async function oneWay(a: Node, b: Node): Promise<number> {
  const data = new TextEncoder().encode(`probe-${Math.random()}`)
  let arrived = false
  const onMessage = (e: MessageEvent) => {
    if (e.from === a.nodeId && Buffer.from(e.data).equals(data)) arrived = true
  }
  b.on('message', onMessage)
  try {
    a.send(b.nodeId, data)
    return await until(
      [b],
      () => arrived,
      DEADLINE,
      () => 'probe not delivered',
      ['message'],
    )
  } finally {
    b.off('message', onMessage)
  }
}

describe('delayed link', () => {
  it(`a link with ${DELAY} ms of latency each way still converges to one session per pair`, async () => {
    net = await FaultNet.start(3, init(), { connect: false })
    for (const p of net.link(0, 1)) p.delay(DELAY)
    net.connect()
    const nodes = net.nodes
    const [a, b, c] = nodes as [Node, Node, Node]
    const meshMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    // Both probes at once, so both see the same load: the delayed one cannot arrive before its
    // delay line releases it (timers never fire early, 2 ms of rounding aside), and the other one,
    // sent in the same instant, arrives first. No absolute bound on the fast one: that is load.
    const [slow, fast] = await Promise.all([oneWay(a, b), oneWay(a, c)])
    expect(slow).toBeGreaterThanOrEqual(DELAY - 5)
    expect(fast).toBeLessThan(slow)
    expect(nodes.reduce((sum, n) => sum + n.stats.dedupDisagreements, 0)).toBe(0)
    console.info(
      `delay: full mesh in ${meshMs.toFixed(0)} ms with ${DELAY} ms on one link; one-way ${slow.toFixed(0)} ms there, ${fast.toFixed(0)} ms elsewhere`,
    )
  })
})

describe('reset link', () => {
  it('a TCP reset closes the session at both ends with connection-lost and it comes back', async () => {
    net = await FaultNet.start(3, init())
    const nodes = net.nodes
    const [a, b, c] = nodes as [Node, Node, Node]
    await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    const cut = sessionBetween(a, b)
    const untouched = sessionBetween(a, c)
    const reasons = new Map<Node, string>()
    for (const n of [a, b]) {
      n.on('session:close', (e: SessionCloseEvent) => e.session.sessionId === cut && reasons.set(n, e.reason))
    }
    for (const p of net.link(0, 1)) p.reset()
    const closedMs = await until(
      nodes,
      () => reasons.size === 2,
      DEADLINE,
      () => JSON.stringify([...reasons.values()]),
    )
    expect([...reasons.values()]).toEqual(['connection-lost', 'connection-lost'])
    const backMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    expect(sessionBetween(a, b)).not.toBe(cut)
    expect(sessionBetween(a, c)).toBe(untouched)
    console.info(`reset: closed at both ends in ${closedMs.toFixed(0)} ms, back ${backMs.toFixed(0)} ms later`)
  })
})

describe('dropping link', () => {
  it('a link that accepts but loses every byte fails the handshake by its deadline, and heals', async () => {
    const HANDSHAKE = 500
    net = await FaultNet.start(3, init({ handshakeTimeoutMs: HANDSHAKE }))
    const nodes = net.nodes
    const [a, b] = nodes as [Node, Node, Node]
    await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    const timeouts: HandshakeErrorEvent[] = []
    for (const n of [a, b]) {
      n.on('handshake:error', (e) => e.reason === 'handshake-timeout' && timeouts.push(e))
    }
    for (const p of net.link(0, 1)) {
      p.drop()
      p.reset()
    }
    const failedMs = await until(
      nodes,
      () => timeouts.length > 0,
      DEADLINE,
      () => meshReport(nodes),
    )
    // By its deadline, not by something sooner: every dial here started after the drop (the mesh
    // was settled, no handshake in flight), and a deadline timer never fires early.
    expect(failedMs).toBeGreaterThanOrEqual(HANDSHAKE - 1)
    expect(usableSessions(a).some((s) => s.remoteNodeId === b.nodeId)).toBe(false)
    for (const p of net.link(0, 1)) p.heal()
    const healMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    console.info(
      `drop: handshake-timeout after ${failedMs.toFixed(0)} ms, full mesh ${healMs.toFixed(0)} ms after the heal`,
    )
  })
})
