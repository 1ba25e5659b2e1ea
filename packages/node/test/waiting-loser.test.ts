import type { DuplicateEvent, Node } from '@peerhouse/node'
import { encodeClose, generateSecretKey, identityFromSecretKey, parseAddress } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { openRawSession, type RawSession } from './attackers/raw-session.ts'
import { Fleet, untilState, usableSessions } from './helpers.ts'

const fleet = new Fleet()
const raws: RawSession[] = []
afterEach(async () => {
  for (const r of raws.splice(0)) r.socket.destroy()
  await fleet.stopAll()
})

// PROTOCOL.md §8.3: the rule runs again when a session with keys starts closing, because a closing
// winner can leave a waiting loser as the best session left. The rule's own closes never need that
// (session-policy.ts, onClosing); a close the peer decided does.
describe('the dedup rule after its winner closes', () => {
  it('a peer closes the winner (not yet open here) as a duplicate: the open loser wins and the third is closed at once', async () => {
    const [node] = (await fleet.start(1, () => ({ handshakeTimeoutMs: 60_000 }))) as [Node]
    const peer = identityFromSecretKey(generateSecretKey())
    for (let i = 0; i < 3; i++) {
      const r = await openRawSession(parseAddress(node.address), {
        identity: peer,
        incarnation: 1n,
        networkId: node.networkId,
      })
      raws.push(r)
    }
    const ofPeer = () => usableSessions(node).filter((s) => s.remoteNodeId === peer.nodeId)
    await untilState(() => ofPeer().length === 3)
    // One initiator (the peer dialed all three): the smallest session id wins.
    const [a, b, c] = ofPeer()
      .map((s) => s.sessionId)
      .sort() as [string, string, string]
    const rawOf = (id: string) => raws.find((r) => r.result.sessionId === id) as RawSession
    const state = (id: string) => node.sessions().find((s) => s.sessionId === id)?.state

    rawOf(b).ready()
    await untilState(() => state(b) === 'open')
    // The winner is not open here, so b and c wait (never zero sessions).
    expect([state(a), state(c)]).toEqual(['established', 'established'])

    const duplicates: DuplicateEvent[] = []
    node.on('session:duplicate', (e) => duplicates.push(e))
    const body = encodeClose({ reason: 'duplicate', winner: b })
    rawOf(a).socket.write(rawOf(a).cipher.seal(body[0] as number, body.subarray(1)))
    await untilState(() => duplicates.some((d) => d.sessionId === a))
    // The rule ran again in the same turn as a's close: b is open, so c lost at once.
    expect(duplicates).toEqual([
      { sessionId: a, remoteNodeId: peer.nodeId, winner: b, byPeer: true },
      { sessionId: c, remoteNodeId: peer.nodeId, winner: b, byPeer: false },
    ])
    expect(state(b)).toBe('open')
    expect(await rawOf(c).closed).toBe('duplicate')
  })
})
