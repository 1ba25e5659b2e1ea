import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import type { SupervisorOptions } from '../src/options.ts'
import { ADMIN_RESERVE, openDescriptors } from '../src/preflight.ts'
import { dialsInFlightPerNode, Supervisor } from '../src/supervisor.ts'

const running: Supervisor[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function supervisor(over: Partial<SupervisorOptions> = {}): Supervisor {
  const dataDir = mkdtempSync(join(tmpdir(), 'peerhouse-sup-'))
  dirs.push(dataDir)
  const sup = new Supervisor({
    nodes: 4,
    host: '127.0.0.1',
    basePort: 0,
    topology: { kind: 'full-mesh' },
    dataDir,
    networkId: 'test-net',
    ...over,
  })
  running.push(sup)
  return sup
}

/** Resolves when readiness() says ready, re-checked after each supervisor event (no sleeps). */
function untilReady(sup: Supervisor, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let checking = false
    let again = false
    const check = async () => {
      if (checking) {
        again = true
        return
      }
      checking = true
      do {
        again = false
        const r = await sup.readiness()
        if (r.ready) {
          clearTimeout(timer)
          sup.off('event', check)
          resolve()
          return
        }
      } while (again)
      checking = false
    }
    const timer = setTimeout(async () => {
      sup.off('event', check)
      reject(new Error(`not ready in ${timeoutMs} ms: ${JSON.stringify(await sup.readiness())}`))
    }, timeoutMs)
    sup.on('event', check)
    void check()
  })
}

describe('Supervisor', () => {
  it('runs 4 nodes as worker threads in a full mesh; restart keeps the node id; a crash is restarted', async () => {
    const sup = supervisor()
    await sup.start()
    await untilReady(sup, 10_000)
    const topo = await sup.topology()
    expect(topo.links).toHaveLength(6)
    expect(topo.duplicates).toEqual([])
    expect(topo.asymmetric).toEqual([])
    const before = sup.nodes()[1]
    expect(before?.status).toBe('running')

    await sup.restartNode(1)
    await untilReady(sup, 10_000)
    const after = sup.nodes()[1]
    expect(after?.nodeId).toBe(before?.nodeId)
    expect(after?.port).toBe(before?.port)
    expect(BigInt(after?.incarnation ?? 0)).toBeGreaterThan(BigInt(before?.incarnation ?? 0))
    expect(after?.restarts).toBe(0) // asked for, not a crash

    const restarted = new Promise<void>((resolve) =>
      sup.on('event', (e) => e.type === 'node:status' && e.index === 2 && e.status === 'running' && resolve()),
    )
    await sup.crashNode(2)
    await restarted
    await untilReady(sup, 10_000)
    expect(sup.nodes()[2]?.restarts).toBe(1)
    await expect(sup.startNode(0)).rejects.toMatchObject({ code: 'ERR_CONFLICT' })
    expect(() => sup.resolveRef('9')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_NODE' }))
    expect(sup.resolveRef(before?.nodeId as string)).toBe(1)
  })
})

describe('Supervisor peers and readiness', () => {
  it('drops its own node ids from peers (one list for every host), in either case, and keeps the rest', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'peerhouse-sup-'))
    dirs.push(dataDir)
    const own = [0, 1].map((i) => loadOrCreateIdentity(join(dataDir, `node-${i}`, 'node.key')).nodeId)
    const other = 'ab'.repeat(32)
    const sup = supervisor({
      nodes: 2,
      dataDir,
      peers: [`${own[1]?.toUpperCase()}@127.0.0.1:30302`, `${other.toUpperCase()}@127.0.0.9:1`, `${own[0]}@10.0.0.1:1`],
    })
    expect(sup.ownPeersSkipped).toEqual([
      { index: 1, address: `${own[1]}@127.0.0.1:30302` },
      { index: 0, address: `${own[0]}@10.0.0.1:1` },
    ])
    const topo = await sup.topology()
    expect(topo.nodes).toEqual([...own, other])
  })

  it('reports descriptors and is not ready when fewer than the admin reserve are left', async () => {
    const open = (await openDescriptors()) as number
    const roomy = supervisor({ nodes: 1, topology: { kind: 'none' }, descriptorLimit: open + 1000 })
    await roomy.start()
    const ok = await roomy.readiness()
    expect(ok.ready).toBe(true)
    expect(ok.descriptors?.limit).toBe(open + 1000)
    expect(ok.descriptors?.open).toBeGreaterThan(open) // the worker and its listener
    const tight = supervisor({ nodes: 1, topology: { kind: 'none' }, descriptorLimit: open + ADMIN_RESERVE })
    await tight.start()
    const pressed = await tight.readiness()
    expect(pressed).toMatchObject({ ready: false, notRunning: [], missing: [] })
    const unknown = supervisor({ nodes: 1, topology: { kind: 'none' }, descriptorLimit: null })
    await unknown.start()
    expect(await unknown.readiness()).toMatchObject({ ready: true, descriptors: { limit: null } })
  })
})

describe('dialsInFlightPerNode', () => {
  it('shares about 512 dials in flight among the nodes of one host: 16 up to 32 nodes, 4 at 128, at least 1', () => {
    expect([1, 8, 32, 33, 64, 128, 512, 1000].map(dialsInFlightPerNode)).toEqual([16, 16, 16, 15, 8, 4, 1, 1])
  })
})
