import { Node } from '@peerhouse/node'
import { generateSecretKey, type Identity, identityFromSecretKey, parseAddress } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { openRawSession, type RawSession } from './attackers/raw-session.ts'
import { Fleet, until, usableSessions } from './helpers.ts'

const fleet = new Fleet()
const raws: RawSession[] = []
afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy()
  await fleet.stopAll()
})

const CAP = 16

describe('strangers with valid keys (a Sybil crowd) never crowd out the peers a node chose', () => {
  it('at the session cap, a restarted configured sibling is back within 5 s and our own dial gets through; strangers are evicted first', async () => {
    const [target, sibling] = (await fleet.start(2, () => ({ maxSessions: CAP }))) as [Node, Node]
    target.addPeer(sibling.address)
    sibling.addPeer(target.address)
    await until([target, sibling], () => target.connectedNodeIds().includes(sibling.nodeId), 10_000)
    // 1.5 × the cap of throwaway identities, each a real key, each dialing the target.
    const crowd = (await fleet.start(CAP + CAP / 2)) as Node[]
    const outcomes = await Promise.allSettled(crowd.map((n) => n.connect(target.address)))
    const admitted = outcomes.filter((o) => o.status === 'fulfilled').length
    expect(admitted).toBe(CAP - 1) // the sibling holds one of the CAP places
    expect(target.stats.sessionsRefused).toBe(CAP / 2 + 1)

    // The sibling restarts (same key, new incarnation): it is protected, a stranger makes room.
    await sibling.stop()
    const again = fleet.add(new Node({ identity: sibling.identity, port: sibling.port, peers: [target.address] }))
    await again.start()
    const ms = await until([target, again], () => target.connectedNodeIds().includes(again.nodeId), 5000)
    // Our own dial at the cap: never refused for capacity.
    const [chosen] = (await fleet.start(1)) as [Node]
    await target.connect(chosen.address)
    console.info(
      `Sybil crowd: ${admitted} strangers admitted, ${target.stats.sessionsRefused} refused; ` +
        `sibling back ${ms.toFixed(0)} ms after its restart; ${target.stats.sessionsEvicted} strangers evicted`,
    )
    expect(target.stats.sessionsEvicted).toBeGreaterThanOrEqual(1)
    expect(usableSessions(target).length).toBeLessThanOrEqual(CAP + 1)
  })
})

describe('one proven identity cannot hold more than maxConnectionsPerPeer connections', () => {
  it('an allowlisted member opening 40 sessions that never confirm holds at most 8; the rest are refused overloaded', async () => {
    const member: Identity = identityFromSecretKey(generateSecretKey())
    const [target] = (await fleet.start(1, () => ({ allowlist: [member.nodeId] }))) as [Node]
    const opened = await Promise.all(
      Array.from({ length: 40 }, () =>
        openRawSession(parseAddress(target.address), {
          identity: member,
          incarnation: 7n,
          networkId: target.networkId,
        }),
      ),
    )
    raws.push(...opened)
    // Each connection is either held (established, never READY) or refused and closed by the node.
    const held = () => target.sessions().filter((s) => s.remoteNodeId === member.nodeId && s.state !== 'closing')
    await until(
      [target],
      () => held().length + target.stats.peerLimitRefused === 40,
      5000,
      () => `${held().length}`,
      ['handshake:error'],
    )
    expect(held()).toHaveLength(8)
    expect(target.stats.peerLimitRefused).toBe(32)
    const reasons = await Promise.all(
      opened.filter((r) => !held().some((h) => h.sessionId === r.result.sessionId)).map((r) => r.closed),
    )
    expect(new Set(reasons)).toEqual(new Set(['overloaded']))
  })
})
