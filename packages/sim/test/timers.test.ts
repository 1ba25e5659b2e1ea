/**
 * The connection's timers on virtual time (issue 10, "Keepalive, … the handshake deadlines are
 * tested on the virtual clock"): the real Node in a World, a scripted Probe or a second real Node
 * as its peer, and every expected time computed from the options and checked against the
 * scheduler's clock. No sleeps, no wall-clock bounds: the same run gives the same times on any
 * machine. PROTOCOL.md §5.7 (setup deadline), §7.2 (close paths), §10.1 (keepalive, write stall).
 *
 * Each assertion can fail: TIMERS_BREAK="keepaliveIntervalMs=1100" (or any other option of a
 * test) runs the nodes with that value while the expectations keep the real one.
 */
import type { Node } from '@peerhouse/node'
import { MESSAGE_TYPES } from '@peerhouse/protocol'
import { describe, expect, it } from 'vitest'
import type { SimNode } from '../src/index.ts'
import {
  expectAt,
  expectWithin,
  hostOf,
  LATENCY_MS as L,
  note,
  Probe,
  record,
  tap,
  timedWorld,
  withBreak,
} from './timers-kit.ts'

/**
 * The first keepalive tick strictly after `t`: these nodes start at 0, so ticks fall on multiples
 * of the interval, and a session times out on the first tick where lastReceivedAt < now − timeout.
 */
const tickAfter = (t: number, interval: number) => interval * (Math.floor(t / interval) + 1)

/** Sim times the node wrote the PINGs the probe received (arrival minus the one-way latency). */
const pingTimes = (p: Probe) => p.of(MESSAGE_TYPES.ping).map((f) => f.at - L)

const expectTimes = (actual: number[], expected: number[]) => {
  expect(actual.length, `${actual} vs ${expected}`).toBe(expected.length)
  for (const [i, t] of actual.entries()) expectAt(t, expected[i] as number)
}

/** One node at index 0, started at sim time 0, and a probe dialing it at 0. */
async function nodeAndProbe(opts: Parameters<typeof timedWorld>[1], probe: ConstructorParameters<typeof Probe>[1]) {
  const world = timedWorld(1, withBreak(opts))
  const taps = tap(world)
  const seen = record(world)
  await world.start(0)
  const p = new Probe(world, probe)
  p.dial(world.nodes[0] as SimNode)
  return { world, taps, seen, probe: p, node: world.nodes[0]?.node as Node }
}

describe('keepalive (PROTOCOL.md §10.1)', () => {
  it('a silent peer is PINGed every tick once nothing was heard since the last, and closed keepalive-timeout on the first tick past timeoutMs after its last byte', async () => {
    const I = 1000
    const T = 4500 // ≥ 2.5 intervals: a session heard from since the previous tick is not PINGed
    const { world, taps, seen, probe } = await nodeAndProbe(
      { keepaliveIntervalMs: I, keepaliveTimeoutMs: T },
      { stage: 'ready' },
    )
    await world.runUntil(8000)
    const link = hostOf(taps, world, 0).links[0]
    const last = link?.reads.at(-1) as number // the probe's READY, ~25 ms: it never speaks again
    const closeAt = tickAfter(last + T, I) // 5000
    const closes = seen.filter((s) => s.kind === 'close')
    note('keepalive silent', {
      I,
      T,
      last,
      expected: closeAt,
      window: [last + T, last + T + I],
      closed: closes[0]?.at,
      pings: pingTimes(probe),
    })
    expect(closes.map((c) => [c.reason, c.byPeer])).toEqual([['keepalive-timeout', false]])
    expectAt(closes[0]?.at, closeAt)
    // The documented window: detected on a tick, so within [timeout, timeout + interval] of the last byte.
    expectWithin((closes[0]?.at as number) - last, T, T + I)
    // Tick 1 heard the handshake; every later tick before the close heard nothing: PING.
    const ticks: number[] = []
    for (let t = 2 * I; t < closeAt; t += I) ticks.push(t)
    expectTimes(pingTimes(probe), ticks)
    // One encrypted CLOSE, then the socket goes without waiting for a FIN (§7.2, flush-then-destroy).
    const close = probe.of(MESSAGE_TYPES.close)
    expect(close.map((f) => f.reason)).toEqual(['keepalive-timeout'])
    expectAt(close[0]?.at, closeAt + L)
  })

  it('a PONG counts as heard: a peer that answers is PINGed every other tick and never times out', async () => {
    const I = 1000
    const T = 2500 // exactly 2.5 intervals: still the quiet rule
    const { world, seen, probe } = await nodeAndProbe(
      { keepaliveIntervalMs: I, keepaliveTimeoutMs: T },
      { stage: 'ready', answerPings: true },
    )
    await world.runUntil(10 * I)
    note('keepalive answering', { I, T, pings: pingTimes(probe) })
    // The PONG to the PING of tick k arrives at k·I + 2L, so tick k+1 has heard something.
    expectTimes(
      pingTimes(probe),
      [2, 4, 6, 8].map((k) => k * I),
    )
    expect(seen.filter((s) => s.kind === 'close')).toEqual([])
  })

  it('with a timeout under 2.5 intervals every tick PINGs every session, heard from or not', async () => {
    const I = 1000
    const T = 2000
    const { world, seen, probe } = await nodeAndProbe(
      { keepaliveIntervalMs: I, keepaliveTimeoutMs: T },
      { stage: 'ready', answerPings: true },
    )
    await world.runUntil(9 * I + L + 1) // the 9th PING has arrived
    note('keepalive not quiet', { I, T, pings: pingTimes(probe) })
    expectTimes(
      pingTimes(probe),
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => k * I),
    )
    expect(seen.filter((s) => s.kind === 'close')).toEqual([])
  })

  it('any byte resets the timer: a busy peer is never PINGed, and times out timeoutMs after its last message', async () => {
    const I = 1000
    const T = 2500
    const { world, taps, seen, probe, node } = await nodeAndProbe(
      { keepaliveIntervalMs: I, keepaliveTimeoutMs: T },
      { stage: 'ready' }, // never answers a PING: only its messages are heard
    )
    const every = 700 // under one interval: every tick has heard something
    for (let k = 1; k <= 5; k++) world.scheduler.after(k * every, () => probe.send(Uint8Array.of(k)))
    let messages = 0
    node.on('message', () => messages++)
    await world.runUntil(9000)
    expect(messages).toBe(5)
    const reads = hostOf(taps, world, 0).links[0]?.reads as number[]
    const last = reads.at(-1) as number
    expectAt(last, 5 * every + L) // the last message's arrival, 3505
    const closeAt = tickAfter(last + T, I) // 7000; from the READY alone it would have been 3000
    const closes = seen.filter((s) => s.kind === 'close')
    note('keepalive busy', { I, T, last, expected: closeAt, closed: closes[0]?.at, pings: pingTimes(probe) })
    expect(closes.map((c) => c.reason)).toEqual(['keepalive-timeout'])
    expectAt(closes[0]?.at, closeAt)
    // PINGs only on the ticks that heard nothing since the previous one: after the traffic stopped.
    const quietTicks: number[] = []
    for (let t = I; t < closeAt; t += I) if (!reads.some((r) => r > t - I && r <= t)) quietTicks.push(t)
    expect(quietTicks).toEqual([5000, 6000])
    expectTimes(pingTimes(probe), quietTicks)
  })

  for (const phase of [300, 0]) {
    it(`two idle nodes ${phase > 0 ? `${phase} ms out of phase take turns: one PING per 1.5 intervals` : 'ticking in phase PING on the same ticks: one PING per interval'}, and each end hears something every 2 intervals`, async () => {
      const I = 1000
      const T = 3000
      const world = timedWorld(2, withBreak({ keepaliveIntervalMs: I, keepaliveTimeoutMs: T }))
      const taps = tap(world)
      await world.start(0)
      world.scheduler.after(phase, () => void world.start(1))
      const from = 5 * I
      const periods = 10 // of 3 intervals (out of phase) or 2 (in phase): a whole number of each
      const to = from + 30 * I
      await world.runUntil(to + I)
      // Each PING is answered by one PONG, and the two ends send nothing else: PINGs = reads / 2.
      const reads = [0, 1].map((i) => hostOf(taps, world, i).links[0]?.reads ?? [])
      const inWindow = reads.flat().filter((r) => r >= from && r < to).length
      const pings = inWindow / 2
      note(`keepalive turns phase=${phase}`, { I, T, intervals: 30, pings, periods })
      // Out of phase a PING at A's tick is heard before B's next tick (phase > latency), so B skips it.
      expect(pings).toBe(phase > L ? 20 : 30)
      for (const r of reads) {
        const idle = r.filter((t) => t >= from - 2 * I && t < to)
        const gaps = idle.slice(1).map((t, k) => t - (idle[k] as number))
        expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * I + L + 0.01)
      }
    })
  }

  it('a blackholed peer (a partition that holds bytes, no reset) is closed at both ends on the first tick past timeoutMs after its last byte', async () => {
    const I = 1000
    const T = 3000
    const world = timedWorld(2, withBreak({ keepaliveIntervalMs: I, keepaliveTimeoutMs: T }))
    const taps = tap(world)
    const seen = record(world)
    await world.start(0)
    await world.start(1)
    const cutAt = 4500
    world.scheduler.after(cutAt, () => world.partition([0], [1]))
    await world.runUntil(10_000)
    const opens = seen.filter((s) => s.kind === 'open')
    expect(opens.length).toBe(2)
    for (const i of [0, 1]) {
      const links = hostOf(taps, world, i).links
      expect(links.length).toBe(1) // the re-dials during the cut never connect (the SYN is lost)
      const last = links[0]?.reads.filter((r) => r < cutAt).at(-1) as number
      expect(links[0]?.reads.every((r) => r < cutAt)).toBe(true)
      const closes = seen.filter((s) => s.kind === 'close' && s.node === i)
      note(`keepalive blackhole node ${i}`, {
        I,
        T,
        cutAt,
        last,
        expected: tickAfter(last + T, I),
        closed: closes[0]?.at,
      })
      expect(closes.map((c) => [c.reason, c.byPeer])).toEqual([['keepalive-timeout', false]])
      expectAt(closes[0]?.at, tickAfter(last + T, I))
      expectWithin((closes[0]?.at as number) - last, T, T + I)
    }
  })
})

describe('write stall (PROTOCOL.md §10.1)', () => {
  it('a peer that stops reading is aborted slow-reader on the first tick writeStallTimeoutMs after its queue stopped moving', async () => {
    const I = 1000
    const W = 2000
    const { world, seen, probe, node } = await nodeAndProbe(
      { keepaliveIntervalMs: I, keepaliveTimeoutMs: 10_000, writeStallTimeoutMs: W },
      { stage: 'ready' },
    )
    world.scheduler.after(100, () => probe.link?.pause())
    const sendAt = 3500
    world.scheduler.after(sendAt, () => {
      // 600 KiB to a peer that reads nothing: ~256 KiB fill the window, the rest stays queued.
      for (let k = 0; k < 3; k++) node.send(probe.nodeId, new Uint8Array(200 * 1024))
    })
    await world.runUntil(9000)
    // The first tick after the send sees the queue stuck and starts counting; the close comes
    // ⌈W / I⌉ ticks later (PINGs queued meanwhile do not count as progress).
    const stuckAt = tickAfter(sendAt, I)
    const closeAt = stuckAt + Math.ceil(W / I) * I // 6000
    const closes = seen.filter((s) => s.kind === 'close')
    note('write stall', {
      I,
      W,
      sendAt,
      expected: closeAt,
      window: [sendAt + W, sendAt + W + I],
      closed: closes[0]?.at,
    })
    expect(closes.map((c) => [c.reason, c.byPeer])).toEqual([['slow-reader', false]])
    expectAt(closes[0]?.at, closeAt)
    expectWithin((closes[0]?.at as number) - sendAt, W, W + I)
    expect(node.stats.slowReaders).toBe(1)
    // An abort: no CLOSE to wait behind what the peer does not read, the reset reaches it one latency later.
    expectAt(probe.closedAt, closeAt + L)
  })
})

describe('drain deadline (PROTOCOL.md §7.2)', () => {
  it('a session closed while its peer is cut off waits drainTimeoutMs for the FIN, then destroys the link', async () => {
    const drain = 1500
    const { world, seen, probe, node } = await nodeAndProbe(
      { drainTimeoutMs: drain, keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 15_000 },
      { stage: 'ready' },
    )
    const closeAt = 1000
    world.scheduler.after(closeAt, () => {
      // Blackholed: our CLOSE and FIN wait at the cut, so no FIN can come back.
      world.network.partition([world.nodes[0]?.ip as string], [probe.ip as string])
      expect(node.disconnect(node.sessions()[0]?.sessionId as string)).toBe(true)
    })
    await world.runUntil(4000)
    const closes = seen.filter((s) => s.kind === 'close')
    note('drain', { drain, closeAt, expected: closeAt + drain, closed: closes[0]?.at })
    expect(closes.map((c) => [c.reason, c.byPeer])).toEqual([['disconnect', false]])
    expect(closes[0]?.at).toBe(closeAt + drain) // the drain timer's destroy: exact
  })
})

describe('setup deadlines (PROTOCOL.md §5.7)', () => {
  const S = 2000
  const H = 500

  it('an accepted connection that sends nothing is closed handshake-timeout helloTimeoutMs after the accept', async () => {
    const { world, seen, probe, node } = await nodeAndProbe(
      { handshakeTimeoutMs: S, helloTimeoutMs: H },
      { stage: 'silent' },
    )
    await world.runUntil(4000)
    const accepted = probe.connectedAt as number // the node's accept is the same event
    expect(accepted).toBe(2 * L)
    const errors = seen.filter((s) => s.kind === 'hs-error')
    note('silent inbound', { H, S, accepted, expected: accepted + H, closed: errors[0]?.at })
    expect(errors.map((e) => [e.reason, e.direction, e.byPeer])).toEqual([['handshake-timeout', 'inbound', false]])
    expect(errors[0]?.at).toBe(accepted + H) // emitted on the timer itself: exact
    expect(probe.of(MESSAGE_TYPES.close).map((f) => f.reason)).toEqual(['handshake-timeout'])
    expectAt(probe.closedAt, accepted + H + L)
    expect(node.handshakesInProgress).toBe(0)
  })

  it('helloTimeoutMs above handshakeTimeoutMs is held to it', async () => {
    const { world, seen, probe } = await nodeAndProbe(
      { handshakeTimeoutMs: S, helloTimeoutMs: 3 * S },
      { stage: 'silent' },
    )
    await world.runUntil(4 * S)
    const errors = seen.filter((s) => s.kind === 'hs-error')
    note('hello clamp', { H: 3 * S, S, accepted: probe.connectedAt, closed: errors[0]?.at })
    expect(errors.map((e) => e.reason)).toEqual(['handshake-timeout'])
    expect(errors[0]?.at).toBe((probe.connectedAt as number) + S)
  })

  it('a peer that sends HELLO and stalls is closed handshake-timeout handshakeTimeoutMs after the accept (not after its HELLO)', async () => {
    const { world, seen, probe } = await nodeAndProbe({ handshakeTimeoutMs: S, helloTimeoutMs: H }, { stage: 'hello' })
    await world.runUntil(4000)
    const accepted = probe.connectedAt as number
    // The node answered the HELLO with its own HELLO and AUTH, one latency after the HELLO arrived.
    expect(probe.frames.map((f) => f.type).slice(0, 2)).toEqual([MESSAGE_TYPES.hello, MESSAGE_TYPES.auth])
    expectAt(probe.frames[0]?.at, accepted + 2 * L)
    const errors = seen.filter((s) => s.kind === 'hs-error')
    note('hello stall', { H, S, accepted, hello: accepted + L, expected: accepted + S, closed: errors[0]?.at })
    expect(errors.map((e) => [e.reason, e.direction, e.claimedNodeId])).toEqual([
      ['handshake-timeout', 'inbound', probe.nodeId],
    ])
    expect(errors[0]?.at).toBe(accepted + S)
    expect(probe.of(MESSAGE_TYPES.close).map((f) => f.reason)).toEqual(['handshake-timeout'])
  })

  it('a peer that proves its key and never sends READY is closed confirm-timeout handshakeTimeoutMs after the accept', async () => {
    const { world, seen, probe, node } = await nodeAndProbe(
      { handshakeTimeoutMs: S, helloTimeoutMs: H },
      { stage: 'auth' },
    )
    await world.runUntil(4000)
    const accepted = probe.connectedAt as number
    const errors = seen.filter((s) => s.kind === 'hs-error')
    note('confirm timeout', { S, accepted, expected: accepted + S, closed: errors[0]?.at })
    expect(errors.map((e) => [e.reason, e.direction, e.remoteNodeId])).toEqual([
      ['confirm-timeout', 'inbound', probe.nodeId],
    ])
    expect(errors[0]?.at).toBe(accepted + S)
    // The node was established (its READY went out), so its CLOSE is encrypted.
    expect(probe.frames.map((f) => f.type)).toEqual([
      MESSAGE_TYPES.hello,
      MESSAGE_TYPES.auth,
      MESSAGE_TYPES.ready,
      MESSAGE_TYPES.close,
    ])
    expect(probe.of(MESSAGE_TYPES.close)[0]?.reason).toBe('confirm-timeout')
    expectAt(probe.of(MESSAGE_TYPES.close)[0]?.at, accepted + S + L)
    expect(seen.filter((s) => s.kind === 'open')).toEqual([])
    expect(node.sessions().filter((r) => r.state === 'open')).toEqual([])
  })

  it('our own dial to a listener that never answers is closed handshake-timeout handshakeTimeoutMs after TCP connected, then re-dialed after delay(1)', async () => {
    const opts = { handshakeTimeoutMs: S, dialGraceMs: 0, redialMinMs: 100, redialMaxMs: 5000 }
    const world = timedWorld(2, withBreak(opts))
    const taps = tap(world)
    const seen = record(world)
    const down = world.nodes[1] as SimNode
    // Node 1 is down; a probe with its key holds its address, accepts and says nothing.
    const probe = new Probe(world, { stage: 'silent', identity: down.identity })
    await probe.listen(down.ip, down.port)
    await world.start(0)
    await world.runUntil(S + 500)
    const { connects, links } = hostOf(taps, world, 0)
    expect(connects[0]?.at).toBe(0)
    expect(connects[0]?.doneAt).toBe(2 * L) // one round trip
    // (The probe takes one connection only: the re-dial's ends connection-lost, later.)
    const errors = seen.filter((s) => s.kind === 'hs-error' && s.at < (connects[1]?.at as number))
    expect(errors.map((e) => [e.reason, e.direction, e.remoteNodeId])).toEqual([
      ['handshake-timeout', 'outbound', down.identity.nodeId],
    ])
    expect(errors[0]?.at).toBe(2 * L + S) // the setup timer starts at connect (§5.7)
    expect(probe.of(MESSAGE_TYPES.hello).length).toBe(1) // the dialer spoke first, as it must
    // A failed handshake is a failure: f = 1, delay(1) = round(min(max, min·2)·U) ∈ [100, 200].
    const closed = links[0]?.closedAt as number
    note('outbound setup', {
      S,
      connected: connects[0]?.doneAt,
      closed: errors[0]?.at,
      redial: (connects[1]?.at as number) - closed,
    })
    expectAt(closed, 2 * L + S)
    expectWithin((connects[1]?.at as number) - closed, opts.redialMinMs, 2 * opts.redialMinMs)
  })

  it('a TCP connect into a blackhole fails after handshakeTimeoutMs', async () => {
    const opts = { handshakeTimeoutMs: S, dialGraceMs: 0, redialMinMs: 100, redialMaxMs: 5000 }
    const world = timedWorld(2, withBreak(opts))
    const taps = tap(world)
    world.partition([0], [1])
    await world.start(0)
    await world.start(1)
    await world.runUntil(S + 500)
    for (const i of [0, 1]) {
      // Each side's first dial: the smaller id's at 0, the larger's after its grace (0 here).
      const first = hostOf(taps, world, i).connects[0]
      note(`connect timeout node ${i}`, { S, first, redial: (hostOf(taps, world, i).connects[1]?.at as number) - S })
      expect(first?.at).toBe(0)
      expect(first?.outcome).toBe('failed')
      expect(first?.doneAt).toBe(S)
      expectWithin((hostOf(taps, world, i).connects[1]?.at as number) - S, opts.redialMinMs, 2 * opts.redialMinMs)
    }
  })
})
