import { connect, type Socket } from 'node:net'
import type { HandshakeErrorEvent, IdentityConflictEvent, Node } from '@peerhouse/node'
import { encodeClose, encodeFrame, generateSecretKey, Handshake, identityFromSecretKey } from '@peerhouse/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Fleet } from './helpers.ts'

const fleet = new Fleet()
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await fleet.stopAll()
})

/** Opens one connection and writes `bytes`; the node decides what happens next. */
function send(target: Node, bytes: Uint8Array): void {
  const s = connect({ host: target.host, port: target.port })
  s.on('error', () => {})
  s.resume()
  s.once('connect', () => s.write(bytes))
  sockets.push(s)
}

describe('identity-conflict claims without a key raise no alarm', () => {
  it('plaintext CLOSE identity-conflict and HELLOs with the node’s own key are counted apart, never as conflicts', async () => {
    const [target] = (await fleet.start(1, () => ({ handshakeTimeoutMs: 300 }))) as [Node]
    const alarms: IdentityConflictEvent[] = []
    target.on('identity:conflict', (e) => alarms.push(e))
    const ended: HandshakeErrorEvent[] = []
    const CLOSES = 200
    const TWINS = 50
    const allEnded = new Promise<void>((resolve) =>
      target.on('handshake:error', (e) => {
        ended.push(e)
        if (ended.length === CLOSES + TWINS) resolve()
      }),
    )
    // The 22 bytes of a plaintext CLOSE: anyone can send them.
    for (let i = 0; i < CLOSES; i++) send(target, encodeFrame(encodeClose({ reason: 'identity-conflict' })))
    // Our own public key (it is in our own HELLO) with another incarnation, and no key behind it.
    for (let i = 0; i < TWINS; i++) {
      const forged = new Handshake({
        identity: { ...identityFromSecretKey(generateSecretKey()), publicKey: target.identity.publicKey },
        role: 'dialer',
        networkId: target.networkId,
        incarnation: target.incarnation + 1n + BigInt(i),
      })
      send(target, forged.helloFrame())
    }
    await allEnded
    expect(alarms).toEqual([])
    expect(target.stats.identityConflicts).toBe(0)
    expect(target.stats.identityClaimsIgnored).toBe(CLOSES)
    // The forged twins got our HELLO and AUTH and never proved the key: they timed out.
    expect(ended.filter((e) => e.reason === 'handshake-timeout')).toHaveLength(TWINS)
    // An unproven claim is reported as a claim, never as the peer's id.
    expect(ended.every((e) => e.remoteNodeId === undefined)).toBe(true)
    expect(ended.filter((e) => e.claimedNodeId === target.nodeId)).toHaveLength(TWINS)
  })
})
