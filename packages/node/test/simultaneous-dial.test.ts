import { afterEach, describe, expect, it } from 'vitest'
import { Fleet, fullMesh, until, usableSessions } from './helpers.ts'

const fleet = new Fleet()
afterEach(() => fleet.stopAll())

describe('two nodes dial each other at the same moment', () => {
  it('ends with exactly one session at each end, the same one, in 200 of 200 trials', async () => {
    const outcomes = { bothDialsResolved: 0, converged: 0, duplicatesClosed: 0 }
    for (let trial = 0; trial < 200; trial++) {
      const [a, b] = (await fleet.start(2)) as [(typeof fleet.nodes)[0], (typeof fleet.nodes)[0]]
      const dials = await Promise.allSettled([a.connect(b.address), b.connect(a.address)])
      if (dials.every((d) => d.status === 'fulfilled')) outcomes.bothDialsResolved++
      await until(
        [a, b],
        () => fullMesh([a, b]),
        5000,
        () => `trial ${trial}: a=${JSON.stringify(a.sessions())} b=${JSON.stringify(b.sessions())}`,
      )
      const [atA, atB] = [usableSessions(a), usableSessions(b)]
      expect(atA).toHaveLength(1)
      expect(atB).toHaveLength(1)
      expect(atA[0]?.sessionId).toBe(atB[0]?.sessionId)
      expect(atA[0]?.remoteNodeId).toBe(b.nodeId)
      expect(a.stats.dedupDisagreements + b.stats.dedupDisagreements).toBe(0)
      expect(a.stats.handshakesFailed).toEqual({})
      expect(b.stats.handshakesFailed).toEqual({})
      outcomes.converged++
      // Either dedup closed the losing session, or it was refused right after HELLO, unsigned.
      outcomes.duplicatesClosed += a.stats.duplicatesClosed + a.stats.duplicatesAvoided + b.stats.duplicatesAvoided
      await fleet.stopAll()
    }
    expect(outcomes.converged).toBe(200)
    expect(outcomes.bothDialsResolved).toBe(200)
    // The race is real: in many trials both dials got through, and the loser was closed or refused after HELLO.
    expect(outcomes.duplicatesClosed).toBeGreaterThan(0)
  })
})
