import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

// The CLI as a user runs it (a child process; tsx stands in for the build that `npm run sim` does).
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const run = promisify(execFile)

async function sim(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

const SUMMARY =
  /^sim nodes=(\d+) seed=(\d+) simulated_s=([\d.]+) wall_s=([\d.]+) speed=([\d.]+) converged_s=([\d.]+|never) violations=(\d+) trace=([0-9a-f]{16})$/

const lastLine = (out: string) => out.trimEnd().split('\n').at(-1) ?? ''

describe('npm run sim', () => {
  it('ends on the one summary line, and the same seed gives the same trace', async () => {
    const args = ['--nodes', '6', '--topology', 'ring', '--seed', '4', '--duration', '60s', '--faults', 'churn,loss']
    const a = await sim(...args)
    expect(a.code, a.stderr).toBe(0)
    const m = SUMMARY.exec(lastLine(a.stdout))
    expect(m, a.stdout).not.toBeNull()
    expect(m?.slice(1, 4)).toEqual(['6', '4', '60.0'])
    expect(m?.[7]).toBe('0')
    const trace = m?.[8] as string
    // --replay prints the story and reproduces the run exactly; --expect-trace checks it.
    const b = await sim(...args, '--replay', '--expect-trace', trace)
    expect(b.code, b.stdout).toBe(0)
    expect(b.stdout).toMatch(/^replay: \d+ trace lines/m)
    expect(lastLine(b.stdout)).toContain(`trace=${trace}`)
    const c = await sim(...args, '--expect-trace', '0000000000000000')
    expect(c.code).toBe(1)
    expect(c.stdout).toContain('differs from the expected')
  })

  it('--seeds A..B sweeps, a line per seed, then the summary', async () => {
    const r = await sim('--small', '--seeds', '1..3')
    expect(r.code, r.stdout).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines.filter((l) => SUMMARY.test(l)).map((l) => SUMMARY.exec(l)?.[2])).toEqual(['1', '2', '3'])
    expect(lastLine(r.stdout)).toMatch(/^sweep seeds=1\.\.3 runs=3 simulated_s=\d+ wall_s=[\d.]+ violations=0$/)
  })

  it('refuses bad arguments with the usage and exit code 2', async () => {
    for (const args of [
      ['--topology', 'star'],
      ['--faults', 'meteor'],
      ['--duration', 'soon'],
      ['--seeds', '9..1'],
    ]) {
      const r = await sim(...args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain('usage: npm run sim')
    }
  })
})
