import { type PeerAddress, parseAddress } from '@peerhouse/protocol'
import { describe, expect, it } from 'vitest'
import { RedialSchedule } from '../src/redial-schedule.ts'
import { ManualClock } from './manual-clock.ts'

const peer: PeerAddress = parseAddress(`${'ab'.repeat(32)}@127.0.0.1:1`)

function schedule() {
  const clock = new ManualClock()
  const dials: number[] = []
  const d = new RedialSchedule({
    clock,
    minMs: 100,
    maxMs: 5000,
    dial: () => dials.push(clock.now()),
    hasUsableOrOwnDial: () => false,
    graceFor: () => 0,
  })
  d.add(peer)
  d.start()
  dials.length = 0
  return { d, clock, dials }
}

describe('RedialSchedule backoff', () => {
  it('a failure doubles the delay (with 50-100 % jitter), starting at minMs', () => {
    const { d, clock, dials } = schedule()
    d.failed(peer.nodeId, 'handshake-timeout')
    clock.advance(99)
    expect(dials).toEqual([])
    clock.advance(101)
    expect(dials).toHaveLength(1) // 100-200 ms after one failure
  })

  it('not-allowed backs off straight to the cap: a refused member is not re-dialed dozens of times', () => {
    const { d, clock, dials } = schedule()
    d.failed(peer.nodeId, 'not-allowed')
    clock.advance(2499)
    expect(dials).toEqual([]) // at least maxMs × 0.5
    clock.advance(2501)
    expect(dials).toHaveLength(1)
    // Over a minute of refusals: one dial per 2.5-5 s, never more.
    for (let i = 0; i < 12; i++) {
      d.failed(peer.nodeId, 'not-allowed')
      clock.advance(5000)
    }
    expect(dials).toHaveLength(13)
  })
})
