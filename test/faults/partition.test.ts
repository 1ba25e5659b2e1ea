import type { Node, SessionCloseEvent } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { fullMesh, meshReport, until, usableSessions } from '../../packages/node/test/helpers.ts'
import { FaultNet } from '../helpers/fault-net.ts'
import type { SwallowedFin, TcpProxy } from '../helpers/tcp-proxy.ts'
import { untilEvents } from '../helpers/until-events.ts'
import { keepaliveFrameBound } from './keepalive-bound.ts'

const N = 16
/** How long the halves stay apart at least: a span of the scenario, not something measured. */
const PARTITION_MS = 10_000
const INTERVAL = 500
const TIMEOUT = 2000
/**
 * Deadlines only turn a hang into a failure; nothing below asserts a duration. The nodes' own
 * timers bound each wait at a fraction of these (detection: TIMEOUT + INTERVAL + the drain; the
 * heal: at most redialMaxMs of backoff, then one handshake).
 */
const DEADLINE = 30_000

let net: FaultNet | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

describe('partition', () => {
  it(`${N} nodes split in two halves for ${PARTITION_MS / 1000} s: every cut session given up at the first keepalive tick past the timeout; one round of dials after the heal makes the mesh full, no duplicates`, async () => {
    net = await FaultNet.start(N, () => ({
      keepaliveIntervalMs: INTERVAL,
      keepaliveTimeoutMs: TIMEOUT,
      redialMinMs: 50,
      // Dials refused during the cut back off; the cap bounds the wait after the heal.
      redialMaxMs: 1000,
      handshakeTimeoutMs: 2000,
    }))
    const nodes = net.nodes
    const setupMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    const left = nodes.slice(0, N / 2)
    const right = nodes.slice(N / 2)
    const side = new Map<string, Node[]>([
      ...left.map((n) => [n.nodeId, left] as const),
      ...right.map((n) => [n.nodeId, right] as const),
    ])

    // Sessions live across the cut when it falls (dedup losers still draining are not counted).
    const cut = new Set(
      nodes.flatMap((n) =>
        usableSessions(n)
          .filter((s) => side.get(s.remoteNodeId) !== side.get(n.nodeId))
          .map((s) => s.sessionId),
      ),
    )
    // Each end's give-up is its FIN (or reset) into the dark link, seen by the proxy with what that
    // end sent there first. A cut session's connection is named by both of the dialer's addresses.
    const dialers = new Set(
      nodes.flatMap((n) =>
        usableSessions(n)
          .filter((s) => cut.has(s.sessionId) && s.direction === 'outbound')
          .map((s) => `${s.localAddress}>${s.remoteAddress}`),
      ),
    )
    const fins = new Map<string, SwallowedFin>()
    const crossProxies = [...nodes.keys()].flatMap((i) =>
      [...nodes.keys()]
        .filter((j) => i !== j && side.get(nodes[i]?.nodeId ?? '') !== side.get(nodes[j]?.nodeId ?? ''))
        .map((j) => net?.proxy(i, j) as TcpProxy),
    )
    for (const p of crossProxies) {
      p.on('swallowed-fin', (fin) => {
        const connection = `${fin.client}>${p.address}`
        const key = `${connection}/${fin.from}`
        if (dialers.has(connection) && !fins.has(key)) fins.set(key, fin)
      })
    }
    const crossCloses: { reason: string; ms: number }[] = []
    let t0 = 0
    for (const n of nodes) {
      n.on('session:close', (e: SessionCloseEvent) => {
        if (cut.has(e.session.sessionId)) {
          crossCloses.push({ reason: e.reason, ms: performance.now() - t0 })
        }
      })
    }
    const pairs = (N / 2) * (N / 2)
    expect(cut.size).toBe(pairs)
    expect(dialers.size).toBe(pairs)
    t0 = performance.now()
    const index = [...nodes.keys()]
    net.partition(index.slice(0, N / 2), index.slice(N / 2))
    // The partition lasts PARTITION_MS, and ends only once both ends of every cut session closed
    // it (awaited, not counted after a sleep) and gave up on the dark link.
    await Promise.all([
      new Promise((resolve) => setTimeout(resolve, PARTITION_MS)),
      untilEvents(
        [
          ...nodes.map((n) => [n, ['session:close']] as const),
          ...crossProxies.map((p) => [p, ['swallowed-fin']] as const),
        ],
        () => crossCloses.length >= 2 * pairs && fins.size >= 2 * pairs,
        PARTITION_MS + DEADLINE,
        () => `${crossCloses.length} of ${2 * pairs} closes, ${fins.size} of ${2 * pairs} FINs`,
      ),
    ])

    // Each side noticed the cut (keepalive) and still has its own half intact.
    expect(crossCloses).toHaveLength(2 * pairs)
    expect(new Set(crossCloses.map((c) => c.reason))).toEqual(new Set(['keepalive-timeout']))
    const closedMs = Math.max(...crossCloses.map((c) => c.ms))
    // Counted, not timed: every end gave up after at least the timeout of silence (timers never
    // fire early) and at the first keepalive tick past it — no more frames into the dark than
    // ticks fit in the timeout, however late a loaded machine ran them.
    const maxFrames = keepaliveFrameBound(INTERVAL, TIMEOUT)
    for (const fin of fins.values()) {
      expect(fin.silentMs).toBeGreaterThanOrEqual(TIMEOUT - 1)
      expect(fin.frames).toBeLessThanOrEqual(maxFrames)
    }
    for (const n of nodes) {
      expect(usableSessions(n).map((s) => side.get(s.remoteNodeId))).toEqual(Array(N / 2 - 1).fill(side.get(n.nodeId)))
    }

    const acceptedAtHeal = crossProxies.reduce((sum, p) => sum + p.stats.accepted, 0)
    net.heal()
    const healMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    // One dial from each end of a cut pair at most: the first round of attempts after the heal
    // rebuilds the mesh (more would be wasted handshakes, or dedup failing to settle a pair).
    const dialsAfterHeal = crossProxies.reduce((sum, p) => sum + p.stats.accepted, 0) - acceptedAtHeal
    expect(dialsAfterHeal).toBeGreaterThanOrEqual(pairs)
    expect(dialsAfterHeal).toBeLessThanOrEqual(2 * pairs)
    for (const n of nodes) {
      const rows = usableSessions(n)
      expect(rows).toHaveLength(N - 1)
      expect(new Set(rows.map((r) => r.remoteNodeId)).size).toBe(N - 1)
    }
    expect(nodes.reduce((sum, n) => sum + n.stats.dedupDisagreements, 0)).toBe(0)
    const silent = [...fins.values()].map((f) => f.silentMs)
    const frames = [...fins.values()].map((f) => f.frames)
    console.info(
      `partition: mesh of ${N} in ${setupMs.toFixed(0)} ms; ${pairs} cut sessions given up at both ends after ${Math.min(...silent).toFixed(0)}-${Math.max(...silent).toFixed(0)} ms of silence with ${Math.min(...frames)}-${Math.max(...frames)} frames into the dark (bound ${maxFrames}), session:close by ${closedMs.toFixed(0)} ms; full mesh ${healMs.toFixed(0)} ms after the heal with ${dialsAfterHeal} dials for ${pairs} pairs`,
    )
  })
})
