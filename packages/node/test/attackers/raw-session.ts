/**
 * A hand-driven peer for attack tests: it runs the real handshake over a raw socket (so it holds a
 * proven key), then does whatever the attack needs — never READY, never read, flood PINGs —
 * instead of what a Node would do. Runs in the test process or in an attacker child process.
 */
import { connect, type Socket } from 'node:net'
import {
  decodeClose,
  FrameDecoder,
  Handshake,
  type HandshakeResult,
  type Identity,
  MAX_FRAME_BODY,
  MAX_HANDSHAKE_FRAME_BODY,
  MESSAGE_TYPES,
  type PeerAddress,
  SessionCipher,
} from '@peerhouse/protocol'

export interface RawSession {
  readonly socket: Socket
  readonly result: HandshakeResult
  readonly cipher: SessionCipher
  /** Resolves with the node's CLOSE reason, or null if the socket ended without one. */
  readonly closed: Promise<string | null>
  /** Sends READY: the session is open at the node. */
  ready(): void
}

export interface RawSessionInit {
  readonly identity: Identity
  readonly incarnation: bigint
  readonly networkId: string
  /** Decrypt and watch the node's frames (for its CLOSE); off for a peer that must not read. @default true */
  readonly read?: boolean
}

/** Dials `to`, completes the handshake as the dialer, and resolves once the keys exist. */
export function openRawSession(to: PeerAddress, init: RawSessionInit): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: to.host, port: to.port })
    socket.setNoDelay(true)
    const hs = new Handshake({
      identity: init.identity,
      role: 'dialer',
      networkId: init.networkId,
      incarnation: init.incarnation,
      expectedNodeId: to.nodeId,
    })
    const decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BODY)
    let cipher: SessionCipher | undefined
    let closeReason: string | null = null
    let settled = false
    const closed = new Promise<string | null>((done) => socket.once('close', () => done(closeReason)))
    socket.on('error', (err) => {
      if (!settled) reject(err)
    })
    socket.once('connect', () => socket.write(hs.helloFrame()))
    const onData = (chunk: Buffer) => {
      decoder.push(chunk)
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        if (cipher === undefined) {
          if (f.body[0] === MESSAGE_TYPES.close) {
            closeReason = decodeClose(f.body).reason
            continue
          }
          const step = hs.receive(f.body)
          if (step.kind === 'send') socket.write(step.frame)
          else if (step.kind === 'established') {
            cipher = new SessionCipher(step.result.sendKey, step.result.recvKey)
            decoder.maxBody = MAX_FRAME_BODY
            const c = cipher
            settled = true
            resolve({
              socket,
              result: step.result,
              cipher: c,
              closed,
              ready: () => socket.write(c.seal(MESSAGE_TYPES.ready, new Uint8Array(0))),
            })
            if (init.read === false) {
              socket.off('data', onData)
              socket.pause()
              return
            }
          }
        } else if (f.body.length === 18 && f.body[0] === MESSAGE_TYPES.close) {
          closeReason = decodeClose(f.body).reason
        } else {
          const { type, payload } = cipher.open(f.header, f.body)
          if (type === MESSAGE_TYPES.close) closeReason = decodeClose(Uint8Array.of(type, ...payload)).reason
        }
      }
    }
    socket.on('data', onData)
    socket.once('close', () => {
      if (!settled) reject(new Error(`closed during the handshake (${closeReason ?? 'no CLOSE'})`))
    })
  })
}
