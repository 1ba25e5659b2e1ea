/**
 * Attacker child process: keeps `count` connections to a node busy in its handshake stage and
 * opens a new one as soon as the node closes one, for `durationMs`. Connection i sends a third of
 * the time one byte, else one of the given HELLO frames (hex, comma-separated) and then nothing.
 * Prints one JSON line when all are open and one at the end.
 * argv: <host> <port> <count> <durationMs> <hello hex,...>
 */
import { connect } from 'node:net'

const [host, port, count, duration, hellos] = process.argv.slice(2) as [string, string, string, string, string]
const frames = hellos.split(',').map((h) => Buffer.from(h, 'hex'))
let opened = 0
let closed = 0
let stop = false
let announced = false

function open(i: number): void {
  if (stop) return
  const s = connect({ host, port: Number(port) })
  s.on('error', () => {})
  s.resume()
  s.once('connect', () => {
    opened++
    const kind = i % 3
    s.write(kind === 0 ? Buffer.of(0) : (frames[(i >> 2) % frames.length] as Buffer))
    if (!announced && opened >= Number(count)) {
      announced = true
      console.log(JSON.stringify({ on: opened }))
    }
  })
  s.once('close', () => {
    closed++
    open(i)
  })
}

for (let i = 0; i < Number(count); i++) open(i)
setTimeout(() => {
  stop = true
  console.log(JSON.stringify({ opened, closed }))
  process.exit(0)
}, Number(duration))
