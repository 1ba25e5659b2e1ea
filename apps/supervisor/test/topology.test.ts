import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { peersOf, topologyPairs } from '../src/topology.ts'

describe('random:K', () => {
  it('each node picks K others: every degree is at least min(K, N-1), a pair picked twice counts once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (n, k, seed) => {
          const pairs = topologyPairs(n, { kind: 'random', k }, seed)
          const degrees = peersOf(n, pairs).map((p) => p.length)
          const picks = n * Math.min(k, n - 1)
          for (const d of degrees) expect(d).toBeGreaterThanOrEqual(Math.min(k, n - 1))
          expect(pairs.length).toBeLessThanOrEqual(picks)
          expect(pairs.length).toBeGreaterThanOrEqual(Math.ceil(picks / 2))
          expect(new Set(pairs.map(([i, j]) => `${i},${j}`)).size).toBe(pairs.length)
          expect(topologyPairs(n, { kind: 'random', k }, seed)).toEqual(pairs) // same seed, same graph
        },
      ),
    )
  })

  it('6 nodes, random:2, seed 1: degrees 2, 4, 4, 3, 4, 3 (as OPERATIONS §2 says)', () => {
    const pairs = topologyPairs(6, { kind: 'random', k: 2 }, 1)
    expect(peersOf(6, pairs).map((p) => p.length)).toEqual([2, 4, 4, 3, 4, 3])
  })
})
