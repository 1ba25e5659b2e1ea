import { connect, type Socket } from 'node:net'
import { Node, type SessionRow } from '@peerhouse/node'
import { generateSecretKey, Handshake, type Identity, identityFromSecretKey } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet, fullMesh, meshReport, until, usableSessions } from './helpers.ts'

const fleet = new Fleet()
const sockets: Socket[] = []
const timers: NodeJS.Timeout[] = []
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t)
  for (const s of sockets.splice(0)) s.destroy()
  await fleet.stopAll()
})

/**
 * An outsider with no key: every `everyMs` it opens a connection to `target` and sends a HELLO
 * carrying `victim`'s public key (public: it is in the victim's own HELLO), then stays silent.
 * It can never send a valid AUTH. Bounded: it stops with the test (afterEach).
 */
function spoof(target: Node, victim: Identity, everyMs: number): { sent: () => number; reached: Promise<void> } {
  let sent = 0
  let reached: () => void = () => {}
  const reachedP = new Promise<void>((resolve) => {
    reached = resolve
  })
  const hello = () =>
    new Handshake({
      identity: { ...identityFromSecretKey(generateSecretKey()), publicKey: victim.publicKey },
      role: 'dialer',
      networkId: target.networkId,
      incarnation: BigInt(Date.now()) * 1000n + BigInt(sent),
    }).helloFrame()
  const once = () => {
    const s = connect({ host: target.host, port: target.port })
    s.on('error', () => {})
    s.resume()
    s.once('connect', () => s.write(hello()))
    sockets.push(s)
    if (++sent === 5) reached()
  }
  once()
  timers.push(setInterval(once, everyMs))
  return { sent: () => sent, reached: reachedP }
}

/** Every pair holds one open session, the same one at both ends (handshakes in progress — the spoofs — aside). */
function meshed(nodes: readonly Node[]): boolean {
  const by = new Map(nodes.map((n) => [n.nodeId, new Map(usableSessions(n).map((r) => [r.remoteNodeId, r]))]))
  for (const n of nodes) {
    const mine = by.get(n.nodeId) as Map<string, SessionRow>
    if (usableSessions(n).length !== nodes.length - 1 || mine.size !== nodes.length - 1) return false
    for (const [remote, row] of mine) {
      if (row.state !== 'open' || by.get(remote)?.get(n.nodeId)?.sessionId !== row.sessionId) return false
    }
  }
  return true
}

describe('keyless HELLOs naming a real node (spoofing) change nothing', () => {
  it('a restarted node and its configured peer are back together within 5 s while spoofs name each to the other', async () => {
    // The restarted node is the larger id: it holds back its own dial (the dial grace), so the
    // session needs the peer's re-dial, which a filed claim used to suppress.
    const [x, y] = (await fleet.start(2)) as [Node, Node]
    const [b, a] = x.nodeId < y.nodeId ? [x, y] : [y, x]
    a.addPeer(b.address)
    b.addPeer(a.address)
    await until([a, b], () => fullMesh([a, b]), 10_000)
    const spoofs = [spoof(b, a.identity, 100), spoof(a, b.identity, 100)]
    await Promise.all(spoofs.map((s) => s.reached))
    await a.stop()
    const again = fleet.add(new Node({ identity: a.identity, port: a.port, peers: [b.address] }))
    await again.start()
    const ms = await until(
      [again, b],
      () => meshed([again, b]),
      5000,
      () => meshReport([again, b]),
    )
    console.info(
      `spoofed HELLO: ${spoofs[0]?.sent()} + ${spoofs[1]?.sent()} spoofs; back together ${ms.toFixed(0)} ms after the restart`,
    )
    // No claim was filed: nothing unproven counts as a session, a handshake or an identity.
    expect(b.stats.identityConflicts + again.stats.identityConflicts).toBe(0)
    expect(b.sessions().filter((s) => s.remoteNodeId === a.nodeId && s.state !== 'closing')).toHaveLength(1)
  })

  it('inside a 4-node mesh, spoofs naming every node to every other do not isolate the largest id after its restart', async () => {
    const nodes = (await fleet.start(4)) as Node[]
    for (const n of nodes) n.addPeers(nodes.filter((m) => m !== n).map((m) => m.address))
    await until(
      nodes,
      () => fullMesh(nodes),
      10_000,
      () => meshReport(nodes),
    )
    const largest = nodes.reduce((x, y) => (x.nodeId > y.nodeId ? x : y))
    const others = nodes.filter((n) => n !== largest)
    // Every node is sent HELLOs naming each of the others: the largest id can rely on nobody's dial.
    const spoofs = nodes.flatMap((target) =>
      nodes.filter((v) => v !== target).map((v) => spoof(target, v.identity, 100)),
    )
    await Promise.all(spoofs.map((s) => s.reached))
    await largest.stop()
    const again = fleet.add(
      new Node({ identity: largest.identity, port: largest.port, peers: others.map((n) => n.address) }),
    )
    await again.start()
    const mesh = [again, ...others]
    const ms = await until(
      mesh,
      () => meshed(mesh),
      5000,
      () => meshReport(mesh),
    )
    const sent = spoofs.reduce((n, s) => n + s.sent(), 0)
    console.info(`spoofed HELLO, 4-node mesh: ${sent} spoofs; full mesh again ${ms.toFixed(0)} ms after the restart`)
  })
})
