/**
 * @peerhouse/supervisor/contract — the supervisor's wire shapes, each defined once as a zod schema
 * with its type derived from it: a node's status, the allowlist view and every SupervisorEvent
 * (what GET /events streams). Node events are the node's own schemas (@peerhouse/node/contract)
 * plus the index and id of the node that emitted them, so no field is listed twice. The admin
 * API, the SSE type list and the dashboard (`import type`) use these.
 */
import {
  DuplicateEventSchema,
  HandshakeErrorEventSchema,
  IdentityConflictEventSchema,
  SessionCloseEventSchema,
  SessionRowSchema,
} from '@peerhouse/node/contract'
import { z } from 'zod'

const nodeId = z.string().describe('64 lowercase hex digits')
const count = z.number().int()

/** A node's lifecycle as the supervisor sees it. */
export const NodeStatusSchema = z.enum(['starting', 'running', 'restarting', 'stopped'])
export type NodeStatus = z.infer<typeof NodeStatusSchema>

/** GET /allowlist: the file's contents and what the nodes enforce. */
export const AllowlistViewSchema = z.object({
  enabled: z.boolean(),
  nodeIds: z.array(nodeId).readonly(),
  /** The file's ids plus this supervisor's own nodes when enabled; null (open network) when disabled. */
  effective: z
    .array(nodeId)
    .readonly()
    .nullable()
    .describe("what the nodes enforce: nodeIds plus this supervisor's own nodes; null when disabled"),
})
export type AllowlistView = Readonly<z.infer<typeof AllowlistViewSchema>>

/** Which of this supervisor's nodes an event is about. */
const fromNode = { index: count, nodeId }

/**
 * Pushed to GET /events subscribers (SSE, `event: <type>`) and to metrics. The order is the one
 * `?types=` lists them in.
 */
export const SupervisorEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('session:open'), ...fromNode, session: SessionRowSchema }),
  SessionCloseEventSchema.extend({ type: z.literal('session:close'), ...fromNode }),
  DuplicateEventSchema.extend({ type: z.literal('session:duplicate'), ...fromNode }),
  HandshakeErrorEventSchema.extend({ type: z.literal('handshake:error'), ...fromNode }),
  /** Handshake failures the node saw but did not send one by one (more than 50 a second): their count, each second. */
  z.object({ type: z.literal('handshake:suppressed'), ...fromNode, count }),
  z.object({
    type: z.literal('node:status'),
    ...fromNode,
    status: NodeStatusSchema,
    restarts: count,
    /** Why the worker last died unasked. */
    error: z.string().optional(),
  }),
  /** A node would not keep one of its configured peers (reason `self` or `invalid`, from Node.addPeers). */
  z.object({
    type: z.literal('peers:skipped'),
    ...fromNode,
    address: z.string(),
    reason: z.enum(['self', 'invalid']),
    message: z.string(),
  }),
  /** Handing a node its configured peers failed (it gets them again at its next start). */
  z.object({ type: z.literal('peers:failed'), ...fromNode, code: z.string(), message: z.string() }),
  AllowlistViewSchema.extend({ type: z.literal('allowlist:change'), source: z.enum(['api', 'file']) }),
  /** A hand-edited allowlist file failed validation; the last good list stays in force. */
  z.object({ type: z.literal('allowlist:invalid'), message: z.string() }),
  /** `nodeId` is the node that saw it; the node event's `nodeId` (the id claimed twice) is `conflictNodeId`. */
  IdentityConflictEventSchema.omit({ nodeId: true }).extend({
    type: z.literal('identity:conflict'),
    ...fromNode,
    /** The id claimed by two processes (this node's own id when a peer says we are the copy). */
    conflictNodeId: nodeId,
  }),
])
export type SupervisorEvent = Readonly<z.infer<typeof SupervisorEventSchema>>
export type SupervisorEventType = SupervisorEvent['type']

/** Every SupervisorEvent type, in the schema's order. */
export const SUPERVISOR_EVENT_TYPES: readonly SupervisorEventType[] = SupervisorEventSchema.options.map(
  (o) => o.shape.type.value,
)
