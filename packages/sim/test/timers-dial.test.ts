/**
 * The dial timers on virtual time (issue 10, "… re-dial backoff, the dial grace … are tested on
 * the virtual clock"): re-dial backoff and its cap, `not-allowed` straight to the cap, and the
 * dial grace of the larger id (PROTOCOL.md §10.2), with the real Node in a World and every window
 * computed from the options. Jitter comes from the node's seeded Random, so a window is asserted
 * (the documented contract), and each run's times are the same on any machine.
 *
 * Each assertion can fail: TIMERS_BREAK="redialMinMs=200" (or any other option of a test) runs
 * the nodes with that value while the expectations keep the real one.
 */
import type { Node } from '@peerhouse/node'
import { describe, expect, it } from 'vitest'
import type { SimNode, World } from '../src/index.ts'
import {
  expectAt,
  expectWithin,
  hostOf,
  LATENCY_MS as L,
  note,
  record,
  tap,
  timedWorld,
  withBreak,
} from './timers-kit.ts'

/** delay(f) = round(min(max, min·2^f) · U), U ∈ [0.5, 1): the inclusive window of whole ms it falls in. */
const backoff = (f: number, min: number, max: number): [number, number] => {
  const base = Math.min(max, min * 2 ** f)
  return [Math.round(base / 2), base]
}

const nodeOf = (world: World, i: number) => (world.nodes[i] as SimNode).node as Node
/** Node `i` lists no peers: it never dials, so only the other side's timers decide. */
const listsNobody = (world: World, i: number) => {
  ;(world.nodes[i] as SimNode).peers.length = 0
}
const smallerFirst = (world: World): [number, number] =>
  (world.nodes[0] as SimNode).identity.nodeId < (world.nodes[1] as SimNode).identity.nodeId ? [0, 1] : [1, 0]

describe('re-dial backoff (PROTOCOL.md §10.2)', () => {
  it('a configured peer that is down is re-dialed after delay(1), delay(2), … capped at redialMaxMs; the session forms at the first attempt after it is back, and resets the count', async () => {
    const opts = { redialMinMs: 100, redialMaxMs: 1600, dialGraceMs: 0 }
    const world = timedWorld(2, withBreak(opts))
    const taps = tap(world)
    const seen = record(world)
    listsNobody(world, 1)
    await world.start(0)
    const upAt = 9000
    world.scheduler.after(upAt, () => void world.start(1))
    const crashAt = 11_000
    world.scheduler.after(crashAt, () => world.crash(1))
    await world.runUntil(13_500)
    const connects = hostOf(taps, world, 0).connects
    const k = connects.findIndex((c) => c.at >= upAt)
    note('backoff', {
      ...opts,
      upAt,
      waits: connects
        .slice(1, k + 1)
        .map((c, n) => [
          n + 1,
          c.at - (connects[n]?.doneAt as number),
          backoff(n + 1, opts.redialMinMs, opts.redialMaxMs),
        ]),
      opened: seen.find((s) => s.kind === 'open' && s.node === 0)?.at,
      lastDial: connects[k]?.at,
    })
    expect(k).toBeGreaterThanOrEqual(7) // ≥ 3 of the waits were at the cap (f ≥ 4: 100·2^4 = 1600)
    expect(connects[0]?.at).toBe(0)
    for (let n = 1; n <= k; n++) {
      const prev = connects[n - 1]
      // Refused after one round trip (nobody listens), then the n-th failure's delay.
      expect(prev?.outcome).toBe('failed')
      expect(prev?.doneAt).toBe((prev?.at as number) + 2 * L)
      const [lo, hi] = backoff(n, opts.redialMinMs, opts.redialMaxMs)
      expectWithin((connects[n]?.at as number) - (prev?.doneAt as number), lo, hi)
    }
    // Back up: the next attempt (not an earlier one: nothing tells the dialer) connects and the
    // session opens 3 round trips later (TCP, HELLO ↔ HELLO+AUTH, AUTH+READY ↔ READY), the last dial.
    expect(connects[k]?.outcome).toBe('connected')
    expect(connects.filter((c) => c.at > (connects[k]?.at as number) && c.at < crashAt)).toEqual([])
    const opens = seen.filter((s) => s.kind === 'open' && s.node === 0)
    expect(opens.length).toBe(1)
    expectAt(opens[0]?.at, (connects[k]?.at as number) + 6 * L)
    // It crashes: the reset reaches us one latency later, the lost session is re-dialed after
    // delay(0), and the failures count again from 1, not from where they were before the session.
    const lost = hostOf(taps, world, 0).links[0]?.closedAt as number
    expectAt(lost, crashAt + L)
    const after = connects.slice(k + 1)
    note('backoff after the session', {
      lost,
      waits: after.map((c, n) => c.at - (n === 0 ? lost : (after[n - 1]?.doneAt as number))),
    })
    expect(after.length).toBeGreaterThanOrEqual(3)
    expectWithin((after[0]?.at as number) - lost, ...backoff(0, opts.redialMinMs, opts.redialMaxMs))
    for (let n = 1; n < after.length; n++) {
      expect(after[n - 1]?.outcome).toBe('failed')
      const wait = (after[n]?.at as number) - (after[n - 1]?.doneAt as number)
      expectWithin(wait, ...backoff(n, opts.redialMinMs, opts.redialMaxMs))
    }
  })

  it('a peer that refuses us not-allowed is re-dialed at the cap (redialMaxMs·U), not from redialMinMs', async () => {
    const opts = { redialMinMs: 100, redialMaxMs: 1600, dialGraceMs: 0 }
    const world = timedWorld(2, withBreak(opts))
    const taps = tap(world)
    const seen = record(world)
    listsNobody(world, 1)
    await world.start(0)
    await world.start(1)
    nodeOf(world, 1).setAllowlist([]) // permissioned, and node 0 is not a member
    await world.runUntil(8000)
    const { connects, links } = hostOf(taps, world, 0)
    const refusals = seen.filter((s) => s.kind === 'hs-error' && s.node === 0)
    expect(refusals.length).toBeGreaterThanOrEqual(4)
    expect(new Set(refusals.map((r) => `${r.reason} ${r.byPeer}`))).toEqual(new Set(['not-allowed true']))
    expect(nodeOf(world, 1).stats.notAllowed).toBe(refusals.length)
    // From the first refusal on, every wait is delay(cap), whatever the count: [800, 1600], where
    // a first ordinary failure waits delay(1) = [100, 200].
    const [lo, hi] = backoff(Number.POSITIVE_INFINITY, opts.redialMinMs, opts.redialMaxMs)
    note('not-allowed', {
      ...opts,
      window: [lo, hi],
      waits: connects.slice(1).map((c, n) => c.at - (links[n]?.closedAt as number)),
    })
    for (let n = 1; n < connects.length; n++) {
      expect(connects[n - 1]?.outcome).toBe('connected')
      const closed = links[n - 1]?.closedAt as number // the re-dial is scheduled when the refused link is gone
      expectAt(closed, (connects[n - 1]?.at as number) + 6 * L) // refused after B verified our AUTH
      expectWithin((connects[n]?.at as number) - closed, lo, hi)
    }
  })
})

describe('dial grace (PROTOCOL.md §10.2)', () => {
  it('the smaller id dials at once; the larger id holds back and skips its dial when the smaller one arrived', async () => {
    const G = 1000
    const world = timedWorld(2, withBreak({ dialGraceMs: G }))
    const taps = tap(world)
    const seen = record(world)
    await world.start(0)
    await world.start(1)
    await world.runUntil(3 * G)
    const [small, large] = smallerFirst(world)
    expect(hostOf(taps, world, small).connects.map((c) => c.at)).toEqual([0])
    expect(hostOf(taps, world, large).connects).toEqual([])
    expect(seen.filter((s) => s.kind === 'open').length).toBe(2)
    expect(nodeOf(world, large).stats.dials).toBe(0)
  })

  it('the larger id, when the smaller one does not dial, dials after exactly its grace: dialGraceMs · U, U ∈ [0.5, 1)', async () => {
    const G = 1000
    const waits: number[] = []
    for (let seed = 1; seed <= 6; seed++) {
      const world = timedWorld(2, withBreak({ dialGraceMs: G }), seed)
      const taps = tap(world)
      const seen = record(world)
      const [small, large] = smallerFirst(world)
      listsNobody(world, small)
      await world.start(0)
      await world.start(1)
      await world.runUntil(2 * G)
      const connects = hostOf(taps, world, large).connects
      expect(connects.length).toBe(1)
      const at = connects[0]?.at as number
      expectWithin(at, Math.round(G / 2), G)
      expect(Number.isInteger(at)).toBe(true) // the grace is whole ms (rounded), from the start at 0
      expectAt(seen.find((s) => s.kind === 'open' && s.node === large)?.at, at + 6 * L)
      waits.push(at)
    }
    note('grace', { G, window: [Math.round(G / 2), G], waits })
    expect(new Set(waits).size).toBeGreaterThan(1) // jittered: not one fixed wait
  })

  for (const maxDialsInFlight of [1, 2, 16]) {
    it(`the grace is one dialGraceMs per maxDialsInFlight peers waiting (3 peers, maxDialsInFlight ${maxDialsInFlight})`, async () => {
      const G = 400
      const world = timedWorld(4, withBreak({ dialGraceMs: G, maxDialsInFlight }), 3)
      const taps = tap(world)
      // The largest id lists the three others, which list nobody.
      const ids = world.nodes.map((n) => n.identity.nodeId)
      const largest = ids.indexOf([...ids].sort().at(-1) as string)
      for (let i = 0; i < 4; i++) if (i !== largest) listsNobody(world, i)
      for (let i = 0; i < 4; i++) await world.start(i)
      await world.runUntil(8 * G)
      const rounds = Math.min(8, Math.max(1, Math.ceil(3 / maxDialsInFlight)))
      const at = hostOf(taps, world, largest).connects.map((c) => c.at)
      note(`grace rounds maxDialsInFlight=${maxDialsInFlight}`, {
        G,
        rounds,
        window: [(rounds * G) / 2, rounds * G],
        dials: at,
      })
      expect(at.length).toBe(3)
      // Each peer's grace is drawn apart in [r·G/2, r·G]; the first dial goes at the smallest.
      expectWithin(Math.min(...at), Math.round((rounds * G) / 2), rounds * G)
      for (const t of at) expect(t).toBeGreaterThanOrEqual(Math.round((rounds * G) / 2))
    })
  }

  it('after a lost session the larger id waits delay(0) plus its grace, the smaller id delay(0) alone', async () => {
    const opts = { dialGraceMs: 1000, redialMinMs: 100, redialMaxMs: 5000 }
    const lostAt = 3000
    const [d0lo, d0hi] = backoff(0, opts.redialMinMs, opts.redialMaxMs) // [50, 100]
    const [glo, ghi] = [Math.round(opts.dialGraceMs / 2), opts.dialGraceMs]
    for (const redialer of ['larger', 'smaller'] as const) {
      const world = timedWorld(2, withBreak(opts), 5)
      const taps = tap(world)
      const [small, large] = smallerFirst(world)
      const [me, other] = redialer === 'larger' ? [large, small] : [small, large]
      listsNobody(world, other)
      await world.start(0)
      await world.start(1)
      world.scheduler.after(lostAt, () => {
        const row = nodeOf(world, other).sessions()[0]
        expect(nodeOf(world, other).disconnect(row?.sessionId as string)).toBe(true)
      })
      await world.runUntil(lostAt + 2 * opts.dialGraceMs)
      const { connects, links } = hostOf(taps, world, me)
      expect(connects.length).toBe(2)
      // The peer's CLOSE and FIN arrive one latency after its disconnect; the re-dial is timed
      // from the moment the link is gone (whether the sim closes it then or once our FIN is in).
      const closed = links[0]?.closedAt as number
      expectWithin(closed, lostAt + L, lostAt + 2 * L + 0.01)
      const wait = (connects[1]?.at as number) - closed
      note(`re-dial after loss, ${redialer}`, {
        closed,
        wait,
        window: redialer === 'larger' ? [d0lo + glo, d0hi + ghi] : [d0lo, d0hi],
      })
      if (redialer === 'larger') expectWithin(wait, d0lo + glo, d0hi + ghi)
      else expectWithin(wait, d0lo, d0hi)
    }
  })
})
