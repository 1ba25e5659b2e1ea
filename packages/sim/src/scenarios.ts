import { Rng } from './rng.ts'
import { FAULTS, type Fault, type Scenario } from './run.ts'
import { formatTopology, type SimTopology } from './topology.ts'

const TOPOLOGIES: readonly SimTopology[] = [{ kind: 'full-mesh' }, { kind: 'ring' }, { kind: 'random', k: 3 }]

/**
 * A small scenario drawn from `seed` alone, for sweeps: 2–16 nodes, a topology, every fault kind
 * (all at once every fourth seed, otherwise a random half of them) and, every third seed, several
 * nodes sharing each IP. 90 s of simulated time: faults from 18 s, then 40 s quiet to settle.
 */
export function smallScenario(seed: number): Scenario {
  const rng = new Rng(seed ^ 0x5eed)
  const nodes = 2 + rng.int(15)
  const faults: Fault[] = seed % 4 === 0 ? [...FAULTS] : FAULTS.filter(() => rng.float() < 0.5)
  return {
    nodes,
    topology: TOPOLOGIES[rng.int(TOPOLOGIES.length)] as SimTopology,
    seed,
    durationMs: 90_000,
    faults,
    ...(seed % 3 === 0 && { hosts: Math.max(1, Math.ceil(nodes / 4)) }),
  }
}

/** The command that runs `s` again, exactly, and prints its story (`small`: it was drawn by smallScenario). */
export function replayCommand(s: Scenario, small: boolean): string {
  if (small) return `npm run sim -- --small --seed ${s.seed} --replay`
  const faults = s.faults.length === 0 ? 'none' : s.faults.join(',')
  const hosts = s.hosts === undefined ? '' : ` --hosts ${s.hosts}`
  const bound = s.boundMs === undefined ? '' : ` --bound ${s.boundMs / 1000}s`
  return (
    `npm run sim -- --nodes ${s.nodes} --topology ${formatTopology(s.topology)} --seed ${s.seed} ` +
    `--duration ${s.durationMs / 1000}s --faults ${faults}${hosts}${bound} --replay`
  )
}
