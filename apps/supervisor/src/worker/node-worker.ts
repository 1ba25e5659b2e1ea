/**
 * Worker-thread entry: runs one Node and answers the supervisor's requests. Loaded as built JS
 * (dist/worker/node-worker.js) by NodeHost.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Node } from '@peerhouse/node'
import { PeerhouseError } from '@peerhouse/protocol'
import { EventBudget } from './event-budget.ts'
import type { WorkerData, WorkerMessage, WorkerRequest } from './messages.ts'
import { parseRequest } from './request-guard.ts'

/** How long a stopping node waits for its peers' FINs after its CLOSE frames. */
const STOP_DRAIN_MS = 2500

const port = parentPort
if (port === null) throw new Error('node-worker must run in a worker thread')
const post = (msg: WorkerMessage) => port.postMessage(msg)
// Built by our supervisor (node-host.ts); the Node validates every option it uses.
const data = workerData as WorkerData

const node = new Node({
  host: data.host,
  port: data.port,
  dataDir: data.dataDir,
  networkId: data.networkId,
  peers: data.peers,
  allowlist: data.allowlist,
  ...data.tuning,
})
/*
 * Each event goes out whole, as the Node emitted it (the contract, @peerhouse/node/contract):
 * no field list here to fall behind the Node's.
 */
node.on('session:open', (session) => post({ kind: 'event', event: 'session:open', session }))
node.on('session:close', (e) => post({ kind: 'event', event: 'session:close', ...e }))
node.on('session:duplicate', (e) => post({ kind: 'event', event: 'session:duplicate', ...e }))
/**
 * Handshake failures any stranger can cause: at most 50 a second reach the supervisor, the rest
 * as a count. Failures of peers this node chose (configured, allowlisted, dialed by it) have a
 * budget of their own, so neither a keyless flood nor one of proven throwaway keys can hide them
 * (they hid 16 and 17 of 20 when the budget was shared, or split by "id known").
 */
const strangerErrors = new EventBudget(50, 100)
const chosenErrors = new EventBudget(50, 100)
node.on('handshake:error', (e) => {
  if (!(e.chosen ? chosenErrors : strangerErrors).allow()) return
  post({ kind: 'event', event: 'handshake:error', ...e })
})
setInterval(() => {
  const count = strangerErrors.takeSuppressed() + chosenErrors.takeSuppressed()
  if (count > 0) post({ kind: 'event', event: 'handshake:suppressed', count })
}, 1000).unref()
node.on('identity:conflict', (e) => post({ kind: 'event', event: 'identity:conflict', ...e }))

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.method) {
    case 'sessions':
      return node.sessions()
    case 'stats':
      return node.stats
    case 'connect':
      return await node.connect(req.address)
    case 'disconnect':
      return node.disconnect(req.sessionId)
    case 'addPeers':
      // { added, skipped }: each entry the node would not take comes back with its reason.
      return node.addPeers(req.addresses) ?? null
    case 'setAllowlist':
      node.setAllowlist(req.nodeIds)
      return null
    case 'stop':
      // The CLI's whole shutdown has 5 s; peers that have not sent their FIN by then are cut.
      await node.stop({ drainMs: STOP_DRAIN_MS })
      return null
    case 'crash':
      // Test-only fault: an uncaught exception, exactly what a bug would do.
      setImmediate(() => {
        throw new Error('injected crash')
      })
      return null
  }
}

port.on('message', (raw: unknown) => {
  const req = parseRequest(raw)
  if (typeof req === 'string') {
    const id = typeof (raw as { id?: unknown })?.id === 'number' ? (raw as { id: number }).id : -1
    post({ kind: 'res', id, ok: false, error: { code: 'ERR_BAD_REQUEST', message: req } })
    return
  }
  handle(req).then(
    (result) => {
      post({ kind: 'res', id: req.id, ok: true, result })
      if (req.method === 'stop') port.close()
    },
    (error: unknown) => {
      const code = error instanceof PeerhouseError ? error.code : 'ERR_NODE'
      // A failed dial says how it ended (a close reason), so the API can answer with it.
      const reason = (error as { reason?: unknown } | null)?.reason
      post({
        kind: 'res',
        id: req.id,
        ok: false,
        error: { code, message: (error as Error).message, ...(typeof reason === 'string' && { reason }) },
      })
    },
  )
})

try {
  await node.start()
  post({ kind: 'ready', nodeId: node.nodeId, port: node.port, incarnation: node.incarnation.toString() })
} catch (error) {
  const e = error as NodeJS.ErrnoException
  post({ kind: 'fatal', code: e.code, message: e.message })
  port.close()
}
