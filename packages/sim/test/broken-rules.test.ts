import type { TestOnlyBreaks } from '@peerhouse/node'
import { type DedupCandidate, type DedupPlan, pickWinner, planDedup } from '@peerhouse/protocol'
import { describe, expect, it } from 'vitest'
import { type RunResult, runScenario } from '../src/run.ts'
import { parseTopology } from '../src/topology.ts'

// The invariants must be able to fail. Each broken rule below is a real way to get dedup wrong;
// the simulator must catch each within 50 seeds at N = 8, and pass the same seeds with the real rule.

/** Each side keeps its own outbound session (the rule is not symmetric: the ends keep different ones). */
function ownOutbound<T extends DedupCandidate>(s: readonly T[], local: string, remote: string): DedupPlan<T> {
  if (s.length === 0) return { winner: undefined, close: [], waiting: [] }
  const mine = s.filter((x) => x.initiator === local)
  const winner = pickWinner(mine.length > 0 ? mine : s, local, remote)
  const losers = s.filter((x) => x !== winner)
  if (!winner.confirmed) return { winner, close: [], waiting: losers }
  return { winner, close: losers.map((session) => ({ session, reason: 'duplicate' as const })), waiting: [] }
}

/** The loser is closed before the winner is confirmed (established at both ends). */
function closeEarly<T extends DedupCandidate>(s: readonly T[], local: string, remote: string): DedupPlan<T> {
  const plan = planDedup(
    s.map((x) => ({ ...x, confirmed: true })),
    local,
    remote,
  )
  // Map the copies back onto the real sessions.
  const real = (x: DedupCandidate | undefined) => s.find((y) => y.sessionId === x?.sessionId) as T
  return {
    winner: plan.winner && real(plan.winner),
    close: plan.close.map((c) => ({ session: real(c.session), reason: c.reason })),
    waiting: plan.waiting.map(real),
  }
}

const BROKEN: Record<string, TestOnlyBreaks> = {
  'each side keeps its own outbound session': { planDedup: ownOutbound },
  'the loser is closed before the winner is confirmed': { planDedup: closeEarly },
  'registry entries are removed by id alone': { removeByIdAlone: true },
}

const run = (seed: number, testOnlyBreaks?: TestOnlyBreaks): Promise<RunResult> =>
  runScenario({
    nodes: 8,
    topology: parseTopology('full-mesh'),
    seed,
    durationMs: 60_000,
    boundMs: 20_000,
    faults: ['simultaneous', 'churn', 'reset'],
    testOnlyBreaks,
  })

describe('the invariants catch a broken dedup rule within 50 seeds (N = 8)', () => {
  for (const [name, breaks] of Object.entries(BROKEN)) {
    it(name, async () => {
      let caught: RunResult | undefined
      for (let seed = 1; seed <= 50 && caught === undefined; seed++) {
        const r = await run(seed, breaks)
        if (r.violations.length > 0) caught = r
      }
      expect(caught, 'not caught in 50 seeds').toBeDefined()
      const v = caught?.violations[0]
      console.log(`${name}: caught at seed ${caught?.seed}, ${v?.invariant}: ${v?.detail}`)
      expect(caught?.slice.length).toBeGreaterThan(0)
    })
  }

  it('the real rule passes the same scenario (first 5 seeds)', async () => {
    for (let seed = 1; seed <= 5; seed++) expect((await run(seed)).violations).toEqual([])
  })
})
