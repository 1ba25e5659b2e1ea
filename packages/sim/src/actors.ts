import type { Link } from '@peerhouse/node'
import { Handshake, identityFromSecretKey } from '@peerhouse/protocol'
import type { Rng } from './rng.ts'
import type { World } from './world.ts'

/** Where the adversaries dial from: a host of their own (dedup never keys on IP, so it gains nothing). */
export const ATTACKER_IP = '10.255.255.254'

/**
 * The keyless HELLO spoofer of the hardening issue: every `everyMs` it dials a random node and
 * sends a HELLO carrying another random node's public key (public: it is in that node's own
 * HELLO), then stays silent. It can never send a valid AUTH.
 */
export function spoofer(world: World, rng: Rng, everyMs: number, until: number): { sent: () => number } {
  let sent = 0
  const transport = world.network.transport(ATTACKER_IP)
  const throwaway = identityFromSecretKey(rng.bytes(32))
  const tick = () => {
    if (world.now >= until) return
    world.scheduler.after(everyMs, tick)
    const n = world.nodes.length
    if (n < 2) return
    const target = world.nodes[rng.int(n)]
    const victim = world.nodes[rng.int(n)]
    if (target === undefined || victim === undefined || target === victim || target.node === undefined) return
    const hello = new Handshake({
      identity: { ...throwaway, publicKey: victim.identity.publicKey },
      role: 'dialer',
      networkId: target.node.networkId,
      incarnation: 1n,
      random: (k) => rng.bytes(k),
    }).helloFrame()
    sent++
    transport.connect(target.ip, target.port, 5000, {
      connected: (link) => {
        link.bind({ data() {}, end() {}, error() {}, close() {}, drain() {} })
        link.write(hello)
        // Held open, silent, until the node gives up on it (its deadline) or the run ends.
      },
      failed() {},
    })
  }
  world.scheduler.after(everyMs, tick)
  return { sent: () => sent }
}

/**
 * The slow-handshake flood: `sockets` connections that each send one byte, or a HELLO and then
 * nothing, and reconnect as soon as the node closes them, until `until`.
 */
export function flood(world: World, rng: Rng, sockets: number, until: number): { opened: () => number } {
  let opened = 0
  const transport = world.network.transport(ATTACKER_IP)
  const open = (k: number) => {
    if (world.now >= until || world.nodes.length === 0) return
    const target = world.nodes[rng.int(world.nodes.length)]
    if (target === undefined || target.node === undefined) {
      world.scheduler.after(1000, () => open(k))
      return
    }
    const networkId = target.node.networkId
    transport.connect(target.ip, target.port, 5000, {
      connected: (link: Link) => {
        opened++
        link.bind({ data() {}, end() {}, error() {}, close: () => world.scheduler.after(1, () => open(k)), drain() {} })
        if (k % 2 === 0) link.write(Uint8Array.of(0))
        else {
          const hs = new Handshake({
            identity: identityFromSecretKey(rng.bytes(32)),
            role: 'dialer',
            networkId,
            incarnation: 1n,
            random: (n) => rng.bytes(n),
          })
          link.write(hs.helloFrame())
        }
      },
      failed: () => world.scheduler.after(100, () => open(k)),
    })
  }
  for (let k = 0; k < sockets; k++) world.scheduler.after(rng.int(1000), () => open(k))
  return { opened: () => opened }
}
