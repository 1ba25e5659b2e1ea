/**
 * A stopping node sends CLOSE(shutdown) and FIN on every session, then waits for the peers' FINs —
 * but only `drainMs`: a peer behind a dead link never answers, and a host stopping 128 nodes at
 * once has 5 s in all (the CLI's shutdown budget).
 */
import type { Node } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { fullMesh, meshReport, until } from '../../packages/node/test/helpers.ts'
import { FaultNet } from '../helpers/fault-net.ts'

let net: FaultNet | undefined
afterEach(async () => {
  await net?.close()
  net = undefined
})

/** The node's own FIN wait, which stop({ drainMs }) must cut short. */
const DRAIN_TIMEOUT = 20_000

describe('stop with a drain bound', () => {
  it('returns within drainMs when a peer never sends its FIN (blackholed link), not after drainTimeoutMs', async () => {
    net = await FaultNet.start(2, () => ({ drainTimeoutMs: DRAIN_TIMEOUT, keepaliveTimeoutMs: 60_000 }))
    const [a, b] = net.nodes as [Node, Node]
    await until(
      net.nodes,
      () => fullMesh(net?.nodes ?? []),
      10_000,
      () => meshReport(net?.nodes ?? []),
    )
    for (const p of net.link(0, 1)) p.blackhole()
    const t0 = performance.now()
    await a.stop({ drainMs: 300 })
    const took = performance.now() - t0
    expect(took).toBeGreaterThanOrEqual(290) // it did wait for the FIN, up to the bound
    // And not for drainTimeoutMs: a stop that waited for it takes 20 s or more on any machine
    // (timers never fire early), so this bound tells the two apart however loaded the box is —
    // unlike a tighter one, which would measure the load.
    expect(took).toBeLessThan(DRAIN_TIMEOUT)
    console.info(`stop with drainMs 300 behind a blackholed link: ${took.toFixed(0)} ms`)
    expect(a.sessions()).toEqual([])
    await b.stop({ drainMs: 300 }) // its peer is gone too; do not let the cleanup wait 20 s
  })
})
