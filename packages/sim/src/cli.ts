#!/usr/bin/env node
/**
 * `npm run sim -- …`: runs one simulated scenario, or sweeps seeds, and ends on one line:
 *   sim nodes=… seed=… simulated_s=… wall_s=… speed=… converged_s=… violations=… trace=…
 * A violation prints the seed, the scenario, the slice of trace that shows it and the command that
 * replays it; `--replay` runs that one seed again and prints its whole story (same trace hash).
 */
import { parseArgs } from 'node:util'
import { describeScenario, FAULTS, type Fault, type RunResult, runScenario, type Scenario } from './run.ts'
import { replayCommand, smallScenario } from './scenarios.ts'
import { parseTopology } from './topology.ts'

const USAGE = `usage: npm run sim -- [options]
  --nodes N             simulated nodes (default 16)
  --topology T          full-mesh | ring | random:K (default full-mesh up to 16 nodes, else random:8)
  --seed S              the run's seed (default 1)
  --seeds A..B          sweep: one run per seed in A..B, a line each, then the summary
  --duration D          simulated time: 600s, 10m, 90000ms (default 120s)
  --faults F,…          ${FAULTS.join(', ')}, all or none (default none)
  --hosts H             spread the nodes over H IPs, several nodes per IP (default one IP each)
  --bound D             a disruption must be repaired within D (default 30s)
  --small               each seed draws its own small scenario (2–16 nodes, faults, topology),
                        as npm test's sweep does; --nodes/--topology/--faults are then ignored
  --replay              print the run's trace (the violation's nodes, or the last lines)
  --expect-trace HASH   fail unless the run's trace hash is HASH
  -h, --help`

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n${USAGE}\n`)
  process.exit(2)
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) throw new Error(`duration must look like 600s, 10m or 90000ms, got ${JSON.stringify(text)}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
  return Math.round(Number(m[1]) * unit)
}

export function parseFaults(text: string): Fault[] {
  if (text === 'all') return [...FAULTS]
  if (text === 'none' || text === '') return []
  const out: Fault[] = []
  for (const f of text.split(',')) {
    if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`unknown fault ${JSON.stringify(f)}`)
    out.push(f as Fault)
  }
  return out
}

export function parseSeeds(text: string): [number, number] {
  const m = /^(\d+)\.\.(\d+)$/.exec(text)
  if (m === null || Number(m[1]) > Number(m[2])) throw new Error(`--seeds must be A..B with A <= B, got ${text}`)
  return [Number(m[1]), Number(m[2])]
}

/** The run's one-line summary. */
export function summaryLine(r: RunResult): string {
  const converged = r.convergedMs === null ? 'never' : (r.convergedMs / 1000).toFixed(3)
  return (
    `sim nodes=${r.nodes} seed=${r.seed} simulated_s=${(r.simulatedMs / 1000).toFixed(1)} ` +
    `wall_s=${(r.wallMs / 1000).toFixed(2)} speed=${r.speed.toFixed(1)} converged_s=${converged} ` +
    `violations=${r.violations.length} trace=${r.trace}`
  )
}

function report(r: RunResult, s: Scenario, replay: string): void {
  for (const v of r.violations.slice(0, 5)) {
    process.stdout.write(`violation ${v.invariant} at ${(v.at / 1000).toFixed(3)} s: ${v.detail}\n`)
  }
  if (r.violations.length === 0) return
  process.stdout.write(`scenario: seed=${s.seed} ${describeScenario(s)}\nreplay: ${replay}\ntrace:\n`)
  for (const line of r.slice) process.stdout.write(`  ${line}\n`)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      topology: { type: 'string' },
      seed: { type: 'string' },
      seeds: { type: 'string' },
      duration: { type: 'string' },
      faults: { type: 'string' },
      hosts: { type: 'string' },
      bound: { type: 'string' },
      small: { type: 'boolean' },
      replay: { type: 'boolean' },
      'expect-trace': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const int = (name: string, text: string | undefined, dflt: number, min: number): number => {
    if (text === undefined) return dflt
    const n = Number(text)
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${text}`)
    return n
  }
  const nodes = int('nodes', values.nodes, 16, 1)
  let scenarioFor: (seed: number) => Scenario
  try {
    const topology = parseTopology(values.topology ?? (nodes <= 16 ? 'full-mesh' : 'random:8'))
    const durationMs = parseDuration(values.duration ?? '120s')
    const faults = parseFaults(values.faults ?? 'none')
    const boundMs = values.bound === undefined ? undefined : parseDuration(values.bound)
    const hosts = values.hosts === undefined ? undefined : int('hosts', values.hosts, 1, 1)
    scenarioFor = values.small
      ? smallScenario
      : (seed) => ({ nodes, topology, seed, durationMs, faults, ...(hosts && { hosts }), ...(boundMs && { boundMs }) })
  } catch (e) {
    fail((e as Error).message)
  }
  const replayOf = (s: Scenario) => replayCommand(s, values.small === true)

  if (values.seeds !== undefined) {
    let range: [number, number]
    try {
      range = parseSeeds(values.seeds)
    } catch (e) {
      fail((e as Error).message)
    }
    const started = performance.now()
    const failing: number[] = []
    let simulated = 0
    for (let seed = range[0]; seed <= range[1]; seed++) {
      const s = scenarioFor(seed)
      const r = await runScenario(s)
      simulated += r.simulatedMs
      process.stdout.write(`${summaryLine(r)}\n`)
      report(r, s, replayOf(s))
      if (r.violations.length > 0) failing.push(seed)
    }
    const wall = (performance.now() - started) / 1000
    process.stdout.write(
      `sweep seeds=${range[0]}..${range[1]} runs=${range[1] - range[0] + 1} simulated_s=${(simulated / 1000).toFixed(0)} ` +
        `wall_s=${wall.toFixed(1)} violations=${failing.length}${failing.length > 0 ? ` failing=${failing.join(',')}` : ''}\n`,
    )
    process.exitCode = failing.length > 0 ? 1 : 0
    return
  }

  const s = scenarioFor(int('seed', values.seed, 1, 0))
  if (!values.small) process.stderr.write(`sim: ${describeScenario(s)} seed=${s.seed}\n`)
  const r = await runScenario(s)
  report(r, s, replayOf(s))
  if (values.replay) {
    const lines = r.violations.length > 0 ? r.replay : r.replay.slice(-200)
    process.stdout.write(`replay: ${r.traceLines} trace lines, showing ${lines.length}:\n`)
    for (const line of lines) process.stdout.write(`  ${line}\n`)
  }
  const m = r.messages
  process.stdout.write(
    `events=${r.events} trace_lines=${r.traceLines} messages=${m.delivered}/${m.sent} faults=${JSON.stringify(r.faults)} peak_rss_mib=${r.peakRssMiB}\n`,
  )
  process.stdout.write(`${summaryLine(r)}\n`)
  const expected = values['expect-trace']
  if (expected !== undefined && expected !== r.trace) {
    process.stdout.write(`trace ${r.trace} differs from the expected ${expected}\n`)
    process.exitCode = 1
    return
  }
  process.exitCode = r.violations.length > 0 ? 1 : 0
}

await main()
// Nodes stopped without grace may leave simulated timers: nothing real is pending, so leave now.
process.exit(process.exitCode ?? 0)
