import { expect } from 'vitest'
import { describeScenario, runScenario } from '../src/run.ts'
import { replayCommand, smallScenario } from '../src/scenarios.ts'

/**
 * Runs the small scenario of every seed in [from, to] and fails on the first violation, with the
 * seed, the scenario, the violation and the slice of trace that shows it.
 */
export async function sweep(from: number, to: number): Promise<void> {
  for (let seed = from; seed <= to; seed++) {
    const s = smallScenario(seed)
    const r = await runScenario(s)
    const v = r.violations[0]
    if (v !== undefined) {
      expect.fail(
        [
          `seed ${seed}: ${describeScenario(s)}`,
          `${v.invariant} at ${(v.at / 1000).toFixed(3)} s: ${v.detail}`,
          `replay: ${replayCommand(s, true)}`,
          ...r.slice,
        ].join('\n'),
      )
    }
  }
}
