/**
 * The admin API's wire shapes, as docs/OPERATIONS.md §5 documents them. Declared here rather than
 * imported from the supervisor: the page is a client of the HTTP contract, not of the code.
 */

export type NodeStatus = 'starting' | 'running' | 'restarting' | 'stopped'

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

/** One row of GET /nodes/:ref/sessions. */
export interface SessionRow {
  sessionId: string
  remoteNodeId: string
  remoteAddress: string
  localAddress: string
  direction: 'inbound' | 'outbound'
  initiator: string
  state: 'established' | 'open' | 'closing' | 'closed'
  openedAt: string
  rttMs: number | null
  bytesIn: number
  bytesOut: number
  messagesIn: number
  messagesOut: number
  remoteIncarnation: string
  queuedBytes?: number
}

/** GET /topology. Pairs are node ids with a < b. */
export interface TopologyReport {
  nodes: string[]
  links: { a: string; b: string; sessionId: string }[]
  duplicates: { a: string; b: string; sessionIds: string[] }[]
  asymmetric: { a: string; b: string; atA: string | null; atB: string | null }[]
  missing: { a: string; b: string }[]
}

/** GET /events, one `event:` per type. */
export type SupervisorEvent =
  | { type: 'session:open'; index: number; nodeId: string; session: SessionRow }
  | { type: 'session:close'; index: number; nodeId: string; session: SessionRow; reason: string; byPeer: boolean }
  | {
      type: 'session:duplicate'
      index: number
      nodeId: string
      sessionId: string
      remoteNodeId: string
      winner: string
    }
  | { type: 'handshake:error'; index: number; nodeId: string; reason: string; direction: string; remoteAddress: string }
  | { type: 'node:status'; index: number; nodeId: string; status: NodeStatus; restarts: number; error?: string }
  | {
      type: 'allowlist:change'
      source: 'api' | 'file'
      enabled: boolean
      nodeIds: string[]
      effective: string[] | null
    }
  | { type: 'allowlist:invalid'; message: string }
  | {
      type: 'identity:conflict'
      index: number
      nodeId: string
      conflictNodeId: string
      incarnations: string[]
      byPeer: boolean
      remoteAddress: string
    }

export type SupervisorEventType = SupervisorEvent['type']

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
