import { describe, expect, it } from 'vitest'
import { FAULTS, runScenario, type Scenario } from '../src/run.ts'
import { parseTopology } from '../src/topology.ts'

const scenario = (seed: number): Scenario => ({
  nodes: 8,
  topology: parseTopology('full-mesh'),
  seed,
  durationMs: 60_000,
  faults: [...FAULTS],
  boundMs: 20_000,
})

describe('a run is a function of (seed, scenario, code)', () => {
  it('the same seed twice gives the same trace, event for event', async () => {
    const a = await runScenario(scenario(7))
    const b = await runScenario(scenario(7))
    expect(b.trace).toBe(a.trace)
    expect(b.traceLines).toBe(a.traceLines)
    expect(b.events).toBe(a.events)
    expect(b.messages).toEqual(a.messages)
    expect(b.faults).toEqual(a.faults)
    expect(a.traceLines).toBeGreaterThan(100)
  })

  it('different seeds give different schedules', async () => {
    const runs = await Promise.all([1, 2, 3].map((seed) => runScenario(scenario(seed))))
    expect(new Set(runs.map((r) => r.trace)).size).toBe(3)
    expect(new Set(runs.map((r) => JSON.stringify(r.faults))).size).toBeGreaterThan(1)
  })
})
