import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Node, SessionCloseEvent } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet } from './helpers.ts'

const fleet = new Fleet()
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await fleet.stopAll()
})

const ATTACKER = fileURLToPath(new URL('./attackers/slow-reader.ts', import.meta.url))
const MiB = 1024 * 1024

/** Runs the attacker in its own process (its memory is not ours); yields its JSON lines. */
function attacker(address: string, networkId: string, durationMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', ATTACKER, address, networkId, String(durationMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))))
  return { next }
}

describe('a proven peer that stops reading and floods PINGs', () => {
  it('is closed slow-reader while the process grows < 128 MiB; the node’s other sessions are untouched', async () => {
    const [target, friend] = (await fleet.start(2, () => ({
      keepaliveIntervalMs: 250,
      keepaliveTimeoutMs: 20_000,
      writeStallTimeoutMs: 1000,
    }))) as [Node, Node]
    await friend.connect(target.address)
    let peak = process.memoryUsage().rss
    const before = peak
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 50)
    const closes: SessionCloseEvent[] = []
    target.on('session:close', (e) => closes.push(e))
    const attack = attacker(target.address, target.networkId, 20_000)
    const up = await attack.next()
    const end = await attack.next()
    clearInterval(sampler)
    const growth = peak - before
    console.info(
      `slow reader: ${end.pings} PINGs (${((end.bytes as number) / MiB).toFixed(1)} MiB) sent; ` +
        `closed by the node: ${end.closed}; RSS growth ${(growth / MiB).toFixed(1)} MiB`,
    )
    expect(end.closed).toBe(true)
    expect(closes.map((c) => [c.session.sessionId, c.reason, c.byPeer])).toEqual([[up.up, 'slow-reader', false]])
    expect(target.stats.slowReaders).toBe(1)
    expect(growth).toBeLessThan(128 * MiB)
    // The friend's session carries on.
    const echo = new Promise<string>((resolve) =>
      target.once('message', (m) => resolve(Buffer.from(m.data).toString())),
    )
    friend.send(target.nodeId, Buffer.from('still here'))
    expect(await echo).toBe('still here')
  }, 40_000)
})
