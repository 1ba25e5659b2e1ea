import { type Node, type NodeEvents, type NodeInit, Node as PeerNode } from '@peerhouse/node'

/** Nodes started by a test; `stopAll` in afterEach closes every one of them. */
export class Fleet {
  readonly nodes: PeerNode[] = []

  async start(count: number, init: (i: number) => NodeInit = () => ({})): Promise<PeerNode[]> {
    const created = Array.from({ length: count }, (_, i) => this.add(new PeerNode(init(i))))
    await Promise.all(created.map((n) => n.start()))
    return created
  }

  add(node: PeerNode): PeerNode {
    this.nodes.push(node)
    return node
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.splice(0).map((n) => n.stop()))
  }
}

/**
 * Resolves once `check()` is true, re-checking after every session event of `nodes` (no sleeps).
 * Rejects after `timeoutMs` with `describe()` in the message, so a failure says what was missing.
 */
export function until(
  nodes: readonly Node[],
  check: () => boolean,
  timeoutMs: number,
  describe = () => '',
  events: readonly (keyof NodeEvents)[] = ['session:open', 'session:close', 'session:duplicate', 'handshake:error'],
): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer)
      for (const n of nodes) for (const e of events) n.off(e, recheck)
    }
    const recheck = () => {
      if (check()) {
        done()
        resolve(performance.now() - started)
      }
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`condition not met within ${timeoutMs} ms${describe() ? `: ${describe()}` : ''}`))
    }, timeoutMs)
    for (const n of nodes) for (const e of events) n.on(e, recheck)
    recheck()
  })
}

/** The usable sessions (`established` or `open`): those that carry traffic. */
export function usableSessions(node: Node) {
  return node.sessions().filter((s) => s.state === 'established' || s.state === 'open')
}

/**
 * Settled full mesh: no handshake in progress, every pair has exactly one usable session, `open`
 * at both ends, and both ends name the same session id.
 */
export function fullMesh(nodes: readonly Node[]): boolean {
  for (const n of nodes) {
    const rows = usableSessions(n)
    if (n.handshakesInProgress > 0 || rows.length !== nodes.length - 1 || rows.some((r) => r.state !== 'open'))
      return false
    if (new Set(rows.map((r) => r.remoteNodeId)).size !== nodes.length - 1) return false
  }
  const byNode = new Map(
    nodes.map((n) => [n.nodeId, new Map(usableSessions(n).map((r) => [r.remoteNodeId, r.sessionId]))]),
  )
  for (const n of nodes) {
    for (const [remote, sessionId] of byNode.get(n.nodeId) ?? []) {
      if (byNode.get(remote)?.get(n.nodeId) !== sessionId) return false
    }
  }
  return true
}

export function meshReport(nodes: readonly Node[]): string {
  return nodes
    .map(
      (n, i) =>
        `#${i}:${n
          .sessions()
          .map((s) => s.state[0])
          .join('')}`,
    )
    .join(' ')
}

/**
 * Resolves once `check()` is true, re-checking after every pending I/O callback has run (setImmediate),
 * not on a timer: for state that changes without a node event (bytes delivered, a socket closed).
 * Rejects after `maxTurns` turns of the event loop so a broken condition fails instead of hanging.
 */
export async function untilState(check: () => boolean, maxTurns = 200_000): Promise<void> {
  for (let turn = 0; !check(); turn++) {
    if (turn >= maxTurns) throw new Error(`condition not met after ${maxTurns} event-loop turns: ${check.toString()}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
