import type { Node } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet, fullMesh, meshReport, until, usableSessions } from './helpers.ts'

const fleet = new Fleet()
afterEach(() => fleet.stopAll())

const N = 16
const PER_PAIR = 200

/** Sends PER_PAIR numbered messages to `to`, a few per event-loop turn, as soon as a session exists. */
function sendAll(from: Node, to: string): Promise<void> {
  let seq = 0
  return new Promise((resolve, reject) => {
    const burst = () => {
      try {
        for (let i = 0; i < 10 && seq < PER_PAIR; i++, seq++) from.send(to, Buffer.from(`${from.nodeId}:${seq}`))
      } catch (error) {
        reject(error)
        return
      }
      if (seq < PER_PAIR) setImmediate(burst)
      else resolve()
    }
    burst()
  })
}

describe(`${N} nodes on 127.0.0.1, each dialing all others at once`, () => {
  it('converge to 120 sessions, 15 per node, both ends agreeing; 200 messages per ordered pair arrive exactly once', async () => {
    const nodes = await fleet.start(N)
    const received = new Map<string, number>()
    for (const n of nodes) {
      n.on('message', (m) => {
        const key = `${Buffer.from(m.data).toString()}>${n.nodeId}`
        if (!key.startsWith(`${m.from}:`)) throw new Error(`message claims another sender: ${key}`)
        received.set(key, (received.get(key) ?? 0) + 1)
      })
    }
    // Senders start on the first session to each peer — while duplicates are still being resolved.
    const sends: Promise<void>[] = []
    for (const n of nodes) {
      const started = new Set<string>()
      n.on('session:open', (row) => {
        if (started.has(row.remoteNodeId)) return
        started.add(row.remoteNodeId)
        sends.push(sendAll(n, row.remoteNodeId))
      })
    }
    for (const n of nodes) for (const m of nodes) if (n !== m) n.addPeer(m.address)

    const ms = await until(
      nodes,
      () => fullMesh(nodes),
      20_000,
      () => meshReport(nodes),
    )
    const ids = new Set(nodes.flatMap((n) => usableSessions(n).map((s) => s.sessionId)))
    expect(ids.size).toBe((N * (N - 1)) / 2)
    for (const n of nodes) expect(usableSessions(n)).toHaveLength(N - 1)

    expect(sends).toHaveLength(N * (N - 1))
    await Promise.all(sends)
    const expected = N * (N - 1) * PER_PAIR
    const total = () => [...received.values()].reduce((a, b) => a + b, 0)
    await until(
      nodes,
      () => total() >= expected,
      20_000,
      () => `${total()} of ${expected} arrived`,
      ['message'],
    )
    expect(received.size).toBe(expected)
    expect([...received.values()].every((count) => count === 1)).toBe(true)

    const dupes = nodes.reduce((a, n) => a + n.stats.duplicatesClosed, 0)
    expect(nodes.reduce((a, n) => a + n.stats.dedupDisagreements, 0)).toBe(0)
    console.info(
      `mesh of ${N}: converged in ${ms.toFixed(0)} ms, ${dupes} duplicate closes observed, ${expected} messages delivered once`,
    )
  })
})
