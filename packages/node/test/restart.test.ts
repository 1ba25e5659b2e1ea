import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Node } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { TcpProxy } from '../../../test/helpers/tcp-proxy.ts'
import { Fleet, fullMesh, meshReport, until, usableSessions } from './helpers.ts'

const fleet = new Fleet()
const dirs: string[] = []
afterEach(async () => {
  await fleet.stopAll()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const N = 6
/** Keepalive far beyond any wait here: recovery must not depend on it. */
const slowKeepalive = { keepaliveIntervalMs: 30_000, keepaliveTimeoutMs: 60_000 }
/**
 * Waits only catch hangs; they stay below the first keepalive tick (30 s), so a recovery at all
 * proves it came from the restart logic, not from a keepalive timeout. The time taken is printed,
 * not asserted: it depends on the machine's load (typically ~100 ms).
 */
const HANG_MS = 20_000

describe('restart', () => {
  it('a node killed abruptly and restarted with the same key and port is back in the full mesh, before any keepalive tick', async () => {
    const root = mkdtempSync(join(tmpdir(), 'peerhouse-restart-'))
    dirs.push(root)
    const nodes = await fleet.start(N, (i) => ({ dataDir: join(root, `node-${i}`), ...slowKeepalive }))
    for (const n of nodes) for (const m of nodes) if (n !== m) n.addPeer(m.address)
    await until(
      nodes,
      () => fullMesh(nodes),
      10_000,
      () => meshReport(nodes),
    )

    const victim = nodes[2] as Node
    const { nodeId, port, incarnation } = victim
    const peers = nodes.filter((n) => n !== victim).map((n) => n.address)
    await victim.stop({ graceful: false })

    const reborn = fleet.add(new Node({ dataDir: join(root, 'node-2'), port, peers, ...slowKeepalive }))
    const t0 = performance.now()
    await reborn.start()
    const live = nodes.map((n) => (n === victim ? reborn : n))
    await until(
      live,
      () => fullMesh(live),
      HANG_MS,
      () => meshReport(live),
    )
    const ms = performance.now() - t0

    expect(reborn.nodeId).toBe(nodeId)
    expect(reborn.incarnation).toBeGreaterThan(incarnation)
    for (const n of live) {
      if (n === reborn) continue
      const row = n.sessions().find((s) => s.remoteNodeId === nodeId)
      expect(row?.remoteIncarnation).toBe(reborn.incarnation.toString())
    }
    console.info(`restart: full mesh of ${N} again ${ms.toFixed(0)} ms after the restarted node started`)
  })
})

describe('restart behind a dead link', () => {
  it('replaces the stale session of the previous life at once, not after a keepalive timeout', async () => {
    const root = mkdtempSync(join(tmpdir(), 'peerhouse-stale-'))
    dirs.push(root)
    const [peer, victim] = (await fleet.start(2, (i) => ({ dataDir: join(root, `n${i}`), ...slowKeepalive }))) as [
      Node,
      Node,
    ]
    // peer reaches victim only through the proxy, so the old session can be left hanging.
    const proxy = await TcpProxy.start(victim.host, victim.port)
    try {
      await peer.connect(`${victim.nodeId}@127.0.0.1:${proxy.port}`)
      const old = peer.sessions()[0]
      proxy.blackhole()
      await victim.stop({ graceful: false })
      expect(peer.sessions().map((s) => s.sessionId)).toEqual([old?.sessionId]) // still looks alive

      const stale = new Promise<string>((resolve) =>
        peer.on('session:close', (e) => e.session.sessionId === old?.sessionId && resolve(e.reason)),
      )
      const reborn = fleet.add(
        new Node({ dataDir: join(root, 'n1'), port: victim.port, peers: [peer.address], ...slowKeepalive }),
      )
      const t0 = performance.now()
      await reborn.start()
      await until(
        [peer, reborn],
        () =>
          usableSessions(peer).length === 1 &&
          usableSessions(peer)[0]?.remoteIncarnation === reborn.incarnation.toString(),
        HANG_MS,
      )
      const ms = performance.now() - t0
      expect(await stale).toBe('stale')
      expect(peer.stats.staleClosed).toBe(1)
      console.info(`restart behind a dead link: stale session replaced ${ms.toFixed(0)} ms after the restart`)
    } finally {
      await proxy.close()
    }
  })
})
