import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Node } from '@peerhouse/node'
import { generateSecretKey, Handshake, type Identity, identityFromSecretKey } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet } from './helpers.ts'

const fleet = new Fleet()
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await fleet.stopAll()
})

const FLOODER = fileURLToPath(new URL('./attackers/handshake-flood.ts', import.meta.url))
/** Above the default handshake cap (512), as in the red-team run. */
const SOCKETS = 560
const WITHIN_MS = 2000
/** Attempts start every PACE_MS while the flood is on, so they sample the whole attack. */
const PACE_MS = 500

const helloOf = (identity: Identity, networkId: string) =>
  Buffer.from(new Handshake({ identity, role: 'dialer', networkId, incarnation: 1n }).helloFrame()).toString('hex')

/** Starts the flood in its own process; resolves once all its sockets are open. */
async function flood(
  target: Node,
  hellos: string[],
  durationMs: number,
): Promise<{ ended: Promise<{ opened: number }> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      FLOODER,
      target.host,
      String(target.port),
      String(SOCKETS),
      String(durationMs),
      hellos.join(','),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const next = () => new Promise<{ opened: number }>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))))
  await next()
  return { ended: next() }
}

/** One attempt per `dial()`, one every PACE_MS: did a session open within WITHIN_MS? */
async function attempts(count: number, dial: () => Promise<unknown>): Promise<{ ok: number; ms: number[] }> {
  let ok = 0
  const ms: number[] = []
  for (let i = 0; i < count; i++) {
    const pace = new Promise((resolve) => setTimeout(resolve, PACE_MS))
    const t0 = performance.now()
    const outcome = await Promise.race([
      dial().then(
        () => 'ok',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(resolve, WITHIN_MS, 'late')),
    ])
    if (outcome === 'ok') {
      ok++
      ms.push(performance.now() - t0)
    }
    await pace
  }
  return { ok, ms }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

describe('a flood of slow or stalled handshakes (one byte, or a HELLO and then silence)', () => {
  it(`${SOCKETS} reconnecting sockets for 20 s: ≥ 90 % of a fresh stranger's attempts complete within 2 s`, async () => {
    const [target] = (await fleet.start(1)) as [Node]
    const strangers = Array.from({ length: 4 }, () =>
      helloOf(identityFromSecretKey(generateSecretKey()), target.networkId),
    )
    await flood(target, strangers, 21_000)
    // 40 attempts over the flood's 20 s.
    const result = await attempts(40, async () => {
      const [fresh] = (await fleet.start(1)) as [Node]
      try {
        await fresh.connect(target.address)
      } finally {
        void fresh.stop({ graceful: false })
      }
    })
    console.info(
      `slow handshakes: stranger ${result.ok}/40 within ${WITHIN_MS} ms (median ${median(result.ms).toFixed(0)} ms), ` +
        `${target.stats.handshakesEvicted} evicted, ${target.stats.accepts} accepts`,
    )
    expect(result.ok).toBeGreaterThanOrEqual(0.9 * 40)
  }, 120_000)

  it('the same flood, permissioned, a third of it claiming the member’s id: ≥ 90 % of the member’s attempts complete', async () => {
    const member = identityFromSecretKey(generateSecretKey())
    const [target] = (await fleet.start(1, () => ({ allowlist: [member.nodeId] }))) as [Node]
    const hellos = [
      helloOf(member, target.networkId),
      helloOf(identityFromSecretKey(generateSecretKey()), target.networkId),
    ]
    await flood(target, hellos, 11_000)
    let incarnation = 1n
    const result = await attempts(20, async () => {
      const node = fleet.add(new Node({ identity: member, incarnation: incarnation++ }))
      await node.start()
      try {
        await node.connect(target.address)
      } finally {
        void node.stop({ graceful: false })
      }
    })
    console.info(
      `slow handshakes, permissioned: member ${result.ok}/20 within ${WITHIN_MS} ms (median ${median(result.ms).toFixed(0)} ms), ` +
        `${target.stats.handshakesEvicted} evicted`,
    )
    expect(result.ok).toBeGreaterThanOrEqual(0.9 * 20)
  }, 120_000)
})
