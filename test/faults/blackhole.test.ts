import type { Node, SessionCloseEvent } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { fullMesh, meshReport, until, usableSessions } from '../../packages/node/test/helpers.ts'
import { FaultNet } from '../helpers/fault-net.ts'
import type { SwallowedFin, TcpProxy } from '../helpers/tcp-proxy.ts'
import { untilEvents } from '../helpers/until-events.ts'
import { keepaliveFrameBound } from './keepalive-bound.ts'

const INTERVAL = 200
const TIMEOUT = 1000
/** Bounds any wait for the peer's FIN after a keepalive close: it never comes through a blackhole. */
const DRAIN = 200
/** How long the link stays dark at least: a span of the scenario, not something measured. */
const DARK = 3000
const HANDSHAKE = 1000
const REDIAL_MAX = 1000
/**
 * Deadlines only turn a hang into a failure; nothing below asserts a duration. The node's own
 * timers bound each wait at a fraction of these (detection: TIMEOUT + INTERVAL; the heal: a hung
 * dial's HANDSHAKE, then at most REDIAL_MAX of backoff).
 */
const DEADLINE = 20_000

let net: FaultNet | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

function sessionBetween(a: Node, b: Node): string {
  const row = usableSessions(a).find((s) => s.remoteNodeId === b.nodeId)
  if (row === undefined) throw new Error(`no session ${a.nodeId.slice(0, 8)}→${b.nodeId.slice(0, 8)}`)
  return row.sessionId
}

/** Resolves at the next connection any of `proxies` accepts (a dial that reached the link). */
function nextDial(proxies: readonly TcpProxy[]): Promise<void> {
  return new Promise((resolve) => {
    const seen = ({ mode }: { mode: string }) => {
      if (mode === 'refuse') return
      for (const p of proxies) p.off('connection', seen)
      resolve()
    }
    for (const p of proxies) p.on('connection', seen)
  })
}

describe('blackholed link', () => {
  it('both ends close it with keepalive-timeout at the first tick past the timeout; after the heal one round of dials makes the mesh whole', async () => {
    net = await FaultNet.start(3, () => ({
      keepaliveIntervalMs: INTERVAL,
      keepaliveTimeoutMs: TIMEOUT,
      redialMinMs: 50,
      redialMaxMs: REDIAL_MAX,
      // Dials made while the link is dark hang silently; they must give up soon after the heal.
      handshakeTimeoutMs: HANDSHAKE,
      drainTimeoutMs: DRAIN,
    }))
    const nodes = net.nodes
    const [a, b, c] = nodes as [Node, Node, Node]
    await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    const cut = sessionBetween(a, b)
    const dialer = [...usableSessions(a), ...usableSessions(b)].find(
      (r) => r.sessionId === cut && r.direction === 'outbound',
    )
    const untouched = [sessionBetween(a, c), sessionBetween(b, c)]
    const link = net.link(0, 1)

    const closes = new Map<Node, string>()
    // Detection itself: each end's FIN into the dark link, whatever the drain time.
    const gaveUp = new Map<string, SwallowedFin & { ms: number }>()
    for (const p of link) {
      p.on('swallowed-fin', (fin) => {
        // The cut session's connection: its dialer's local port, through this proxy.
        if (fin.client === dialer?.localAddress && p.address === dialer.remoteAddress && !gaveUp.has(fin.from)) {
          gaveUp.set(fin.from, { ...fin, ms: performance.now() - t0 })
        }
      })
    }
    let t0 = 0
    for (const n of [a, b]) {
      n.on('session:close', (e: SessionCloseEvent) => {
        if (e.session.sessionId === cut) closes.set(n, e.reason)
      })
    }
    t0 = performance.now()
    const redialed = nextDial(link)
    net.blackholeLink(0, 1)
    await untilEvents(
      [...[a, b].map((n) => [n, ['session:close']] as const), ...link.map((p) => [p, ['swallowed-fin']] as const)],
      () => closes.size === 2 && gaveUp.size === 2,
      DEADLINE,
      () => JSON.stringify([...closes.values(), ...gaveUp]),
    )
    expect([...gaveUp.keys()].sort()).toEqual(['client', 'target'])
    // Counted, not timed: silence is at least the timeout (timers never fire early), and the end
    // gave up at the first tick past it: no more PINGs went into the dark than ticks fit in the
    // timeout, however late a loaded machine ran those ticks.
    const maxFrames = keepaliveFrameBound(INTERVAL, TIMEOUT)
    for (const fin of gaveUp.values()) {
      expect(fin.silentMs).toBeGreaterThanOrEqual(TIMEOUT - 1)
      expect(fin.frames).toBeLessThanOrEqual(maxFrames)
    }
    expect([...closes.values()]).toEqual(['keepalive-timeout', 'keepalive-timeout'])
    expect([sessionBetween(a, c), sessionBetween(b, c)]).toEqual(untouched)

    // Re-dials meanwhile reach the link and hang in the dark, as they would for real; the outage
    // lasts at least DARK in all.
    await Promise.all([redialed, new Promise((resolve) => setTimeout(resolve, DARK - (performance.now() - t0)))])
    const acceptedAtHeal = link.reduce((sum, p) => sum + p.stats.accepted, 0)
    net.heal()
    const healMs = await until(
      nodes,
      () => fullMesh(nodes),
      DEADLINE,
      () => meshReport(nodes),
    )
    // One dial from each end at most: the first attempt after the heal succeeds (a second one
    // would mean a wasted handshake, or dedup failing to settle the pair).
    const dialsAfterHeal = link.reduce((sum, p) => sum + p.stats.accepted, 0) - acceptedAtHeal
    expect(dialsAfterHeal).toBeGreaterThanOrEqual(1)
    expect(dialsAfterHeal).toBeLessThanOrEqual(2)
    expect(sessionBetween(a, b)).not.toBe(cut)
    expect(nodes.reduce((sum, n) => sum + n.stats.dedupDisagreements, 0)).toBe(0)
    const fins = [...gaveUp.values()]
    console.info(
      `blackhole: gave up after ${fins.map((f) => `${f.silentMs.toFixed(0)} ms of silence, ${f.frames} frames into the dark`).join(' / ')} (bound ${maxFrames}); mesh whole ${healMs.toFixed(0)} ms after the heal with ${dialsAfterHeal} dial(s)`,
    )
  })
})
