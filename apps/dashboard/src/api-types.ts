/**
 * The admin API's wire shapes, as docs/OPERATIONS.md §5 documents them. The ones that cross more
 * than the HTTP API (the session row, node status, every event) are the contracts' own zod-derived
 * types, taken with `import type`: nothing of zod or the supervisor is bundled into the page.
 */
import type { NodeStatus, SupervisorEventType } from '@peerhouse/supervisor/contract'

export type { SessionRow } from '@peerhouse/node/contract'
export type { NodeStatus, SupervisorEvent, SupervisorEventType } from '@peerhouse/supervisor/contract'

/** One row of GET /nodes. */
export interface NodeSummary {
  index: number
  nodeId: string
  host: string
  port: number
  status: NodeStatus
  sessions: number
  restarts: number
  incarnation: string | null
}

/** GET /topology. Pairs are node ids with a < b. */
export interface TopologyReport {
  nodes: string[]
  links: { a: string; b: string; sessionId: string }[]
  duplicates: { a: string; b: string; sessionIds: string[] }[]
  asymmetric: { a: string; b: string; atA: string | null; atB: string | null }[]
  missing: { a: string; b: string }[]
}

/** The event types the page subscribes to (it shows no others); each must be a real SupervisorEvent type. */
export const EVENT_TYPES: readonly SupervisorEventType[] = [
  'session:open',
  'session:close',
  'session:duplicate',
  'handshake:error',
  'node:status',
  'allowlist:change',
  'allowlist:invalid',
  'identity:conflict',
]

/** The JSON body of every admin API error. */
export interface ErrorBody {
  statusCode: number
  code: string
  message: string
}
