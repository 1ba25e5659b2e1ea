/**
 * Attacker child process: a proven peer that sends its READY (the session is open), then never
 * reads again and sends PINGs as fast as its own socket takes them, for at most `durationMs`.
 * Prints one JSON line when the session is open and one when it ends (the node closed it, or time
 * ran out).
 * argv: <address> <networkId> <durationMs>
 */
import { generateSecretKey, identityFromSecretKey, MESSAGE_TYPES, parseAddress } from '@peerhouse/protocol'
import { openRawSession } from './raw-session.ts'

const [address, networkId, duration] = process.argv.slice(2) as [string, string, string]
const session = await openRawSession(parseAddress(address), {
  identity: identityFromSecretKey(generateSecretKey()),
  incarnation: 1n,
  networkId,
  read: false,
})
session.ready()
console.log(JSON.stringify({ up: session.result.sessionId }))
const ping = Buffer.alloc(8)
let pings = 0
let stop = false
const deadline = setTimeout(() => {
  stop = true
}, Number(duration))
const pump = () => {
  // Our own writes respect our own backpressure: the attack is the node's queue, not ours.
  while (!stop && !session.socket.destroyed && session.socket.writableLength < 1 << 20) {
    ping.writeBigUInt64BE(BigInt(++pings))
    session.socket.write(session.cipher.seal(MESSAGE_TYPES.ping, ping))
  }
  if (!stop && !session.socket.destroyed) setImmediate(pump)
}
pump()
session.socket.on('error', () => {})
session.socket.once('close', () => {
  clearTimeout(deadline)
  console.log(JSON.stringify({ closed: true, pings, bytes: session.socket.bytesWritten }))
  process.exit(0)
})
await new Promise((resolve) => setTimeout(resolve, Number(duration)))
console.log(JSON.stringify({ closed: false, pings, bytes: session.socket.bytesWritten }))
process.exit(0)
