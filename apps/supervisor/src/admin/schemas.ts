import { parseAddress, SESSION_ID_BYTES } from '@peerhouse/protocol'
import { z } from 'zod'
import { ADMIN_ERRORS } from './errors.ts'

const nodeId = z.string().describe('64 lowercase hex digits')

export const refSchema = z
  .string()
  .regex(/^(?:[0-9]{1,9}|[0-9a-fA-F]{64})$/, 'must be a decimal node index or a 64-hex node id')
  .describe('node index or node id')

export const RefParams = z.object({ ref: refSchema })

export const SessionParams = RefParams.extend({
  sessionId: z
    .string()
    .regex(new RegExp(`^[0-9a-f]{${SESSION_ID_BYTES * 2}}$`), `must be ${SESSION_ID_BYTES * 2} lowercase hex digits`),
})

export const DialBody = z.strictObject({
  address: z
    .string()
    .max(300)
    .superRefine((value, ctx) => {
      try {
        parseAddress(value)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message })
      }
    })
    .describe('<nodeId>@<host>:<port>'),
})

export const NodeStatusSchema = z.enum(['starting', 'running', 'restarting', 'stopped'])

export const NodeSummarySchema = z.object({
  index: z.number().int(),
  nodeId,
  host: z.string(),
  port: z.number().int(),
  status: NodeStatusSchema,
  sessions: z.number().int(),
  restarts: z.number().int(),
  incarnation: z.string().nullable(),
})

const count = z.number().int()

export const NodeStatsSchema = z.object({
  dials: count,
  dialFailures: count,
  dialsSkipped: count,
  accepts: count,
  handshakesOk: count,
  handshakesFailed: z.record(z.string(), count).describe('failed handshakes by close reason'),
  duplicatesClosed: count,
  staleClosed: count,
  selfConnects: count,
  notAllowed: count.describe('peers refused after the key proof: not on the allowlist'),
  identityConflicts: count.describe(
    'proven identity conflicts: a peer proved this node’s key, or proved its own with a lower incarnation than a live session of that id',
  ),
  identityClaimsIgnored: count.describe(
    'identity-conflict claims that raise no alarm: a forgeable plaintext CLOSE, a stranger’s report or a stranger’s own key proved twice',
  ),
  handshakesEvicted: count.describe(
    'inbound connections not yet past the key proof, evicted oldest first at the handshake cap',
  ),
  sessionsRefused: count.describe('strangers refused at the session cap'),
  sessionsEvicted: count.describe(
    'stranger sessions closed to make room for a configured or allowlisted peer or our own dial',
  ),
  peerLimitRefused: count.describe('proven connections refused: their node id already held maxConnectionsPerPeer'),
  slowReaders: count.describe('sessions closed slow-reader: the peer stopped reading'),
  duplicatesAvoided: count,
  dedupDisagreements: count,
  messagesIn: count,
  messagesOut: count,
})

export const NodeDetailSchema = NodeSummarySchema.extend({
  identityConflicts: count.describe('identity conflicts the node reported, over all its restarts'),
  stats: NodeStatsSchema.nullable(),
})

export const SessionRowSchema = z.object({
  sessionId: z.string(),
  remoteNodeId: nodeId,
  remoteAddress: z.string(),
  localAddress: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  initiator: nodeId.describe('node id of the side that dialed'),
  state: z.enum(['established', 'open', 'closing', 'closed']),
  openedAt: z.string().describe('ISO 8601'),
  rttMs: z.number().nullable(),
  bytesIn: count,
  bytesOut: count,
  messagesIn: count,
  messagesOut: count,
  remoteIncarnation: z.string(),
  queuedBytes: count.describe(
    'bytes written for the peer and not yet taken by the kernel: a peer that does not read shows here',
  ),
})

export const SessionWithLocalSchema = SessionRowSchema.extend({ localNodeId: nodeId })

const pair = { a: nodeId, b: nodeId }

export const TopologySchema = z.object({
  nodes: z.array(nodeId).readonly(),
  links: z.array(z.object({ ...pair, sessionId: z.string() })).readonly(),
  duplicates: z.array(z.object({ ...pair, sessionIds: z.array(z.string()) })).readonly(),
  asymmetric: z.array(z.object({ ...pair, atA: z.string().nullable(), atB: z.string().nullable() })).readonly(),
  missing: z.array(z.object(pair)).readonly(),
})

export const ReadinessSchema = z.object({
  ready: z.boolean(),
  notRunning: z.array(z.number().int()).readonly(),
  missing: TopologySchema.shape.missing,
  asymmetric: TopologySchema.shape.asymmetric,
  duplicates: TopologySchema.shape.duplicates,
  descriptors: z
    .object({ open: z.number().int().nullable(), limit: z.number().int().nullable() })
    .optional()
    .describe(
      'descriptors the process has open and its soft limit (null: unknown or unlimited); not ready when fewer than 128 (the admin reserve) are left',
    ),
})

/** Clients may send either case; ids are stored lowercase. */
const memberId = z
  .string()
  .toLowerCase()
  .regex(/^[0-9a-f]{64}$/, 'must be a node id: 64 hex digits')
  .describe('node id, 64 hex digits')

/** Far above any consortium; PUT bodies have their own, larger, size limit to fit it. */
export const MAX_ALLOWLIST_IDS = 10_000

export const AllowlistSchema = z.object({
  enabled: z.boolean(),
  nodeIds: z.array(nodeId).readonly(),
  effective: z
    .array(nodeId)
    .readonly()
    .nullable()
    .describe("what the nodes enforce: nodeIds plus this supervisor's own nodes; null when disabled"),
})

/** What a change answers: the state after it, and a warning while that state is not enforced. */
export const AllowlistChangeSchema = AllowlistSchema.extend({
  warning: z
    .string()
    .optional()
    .describe('present while the list is disabled: its ids are not enforced and the network is open'),
})

export const AllowlistBody = z.strictObject({
  enabled: z.boolean(),
  nodeIds: z.array(memberId).max(MAX_ALLOWLIST_IDS),
})

export const AllowlistAddBody = z.strictObject({ nodeId: memberId })

export const AllowlistIdParams = z.object({ nodeId: memberId })

export const ErrorSchema = z.object({
  statusCode: z.number().int(),
  code: z.enum(Object.keys(ADMIN_ERRORS) as [keyof typeof ADMIN_ERRORS]),
  error: z.string(),
  message: z.string(),
  nodeCode: z.string().optional(),
  reason: z.string().optional().describe('how a dial ended: a close reason such as wrong-node or not-allowed'),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
})

/**
 * A 204: no body. `type: 'null'` is what makes @fastify/swagger leave `content` out (zod writes a
 * nullable string enum for OpenAPI 3.0).
 */
export const noContent = (description: string) => z.null().meta({ type: 'null', description })

export type ErrorStatus = 400 | 401 | 404 | 408 | 409 | 413 | 414 | 415 | 431 | 500 | 502 | 503

/** Error responses a route documents, by status. */
export function errors<const S extends readonly ErrorStatus[]>(...statuses: S): Record<S[number], typeof ErrorSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorSchema])) as Record<S[number], typeof ErrorSchema>
}
