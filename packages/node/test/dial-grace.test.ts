import { createServer } from 'node:net'
import type { Node } from '@peerhouse/node'
import { formatAddress } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet } from './helpers.ts'
import { ManualClock } from './manual-clock.ts'

const fleet = new Fleet()
afterEach(() => fleet.stopAll())

/** A listener that never speaks; resolves `first` at its first accepted connection. */
async function silentListener() {
  const sockets = new Set<import('node:net').Socket>()
  let onFirst: () => void = () => {}
  const first = new Promise<void>((resolve) => {
    onFirst = resolve
  })
  const server = createServer((socket) => {
    onFirst()
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as import('node:net').AddressInfo
  const close = () => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  }
  return { port, first, close }
}

describe('dial grace', () => {
  it('the larger id holds back one dialGraceMs per maxDialsInFlight peers still waiting, then dials', async () => {
    const listener = await silentListener()
    try {
      // On a manual clock the grace is exact whatever the load: 12 waiting / 4 in flight = 3
      // rounds of 200 ms, × 0.5–1 jitter: no dial before 300 ms, a dial by 600 ms. (A flat grace
      // would have dialed after 100–200 ms.) It still dials when nobody else does.
      const clock = new ManualClock()
      const [node] = (await fleet.start(1, () => ({ dialGraceMs: 200, maxDialsInFlight: 4, clock }))) as [Node]
      // 12 peers with ids below any real one: rule 1 keeps their dials, so this node waits.
      const smaller = Array.from({ length: 12 }, (_, i) => '0'.repeat(62) + i.toString(16).padStart(2, '0'))
      node.addPeers(smaller.map((nodeId) => formatAddress({ nodeId, host: '127.0.0.1', port: listener.port })))
      clock.advance(299)
      expect(node.stats.dials).toBe(0)
      clock.advance(301)
      expect(node.stats.dials).toBe(4) // the first round, maxDialsInFlight at a time
      await listener.first // and they are real dials
    } finally {
      await listener.close()
    }
  })
})
