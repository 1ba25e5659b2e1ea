import { z } from 'zod'

/**
 * The supervisor ↔ worker wire: a discriminated union validated with zod on both sides, so a
 * confused or crashed worker produces a typed error instead of undefined behaviour.
 */
export const tuningSchema = z.strictObject({
  handshakeTimeoutMs: z.number().positive().optional(),
  keepaliveIntervalMs: z.number().positive().optional(),
  keepaliveTimeoutMs: z.number().positive().optional(),
  drainTimeoutMs: z.number().positive().optional(),
  redialMinMs: z.number().positive().optional(),
  redialMaxMs: z.number().positive().optional(),
  maxDialsInFlight: z.number().int().positive().optional(),
  /** From the descriptor budget (preflight.ts): strangers' unproven handshakes and sessions per node. */
  maxHandshakes: z.number().int().positive().optional(),
  maxSessions: z.number().int().positive().optional(),
})

export const workerDataSchema = z.strictObject({
  index: z.number().int().nonnegative(),
  host: z.string(),
  port: z.number().int().min(0).max(65535),
  dataDir: z.string(),
  networkId: z.string(),
  peers: z.array(z.string()),
  /** Permissioned mode: the ids the node accepts (the supervisor's effective allowlist); null: open. */
  allowlist: z.array(z.string()).nullable(),
  tuning: tuningSchema,
})
export type WorkerData = z.infer<typeof workerDataSchema>

export const requestSchema = z.discriminatedUnion('method', [
  z.strictObject({ kind: z.literal('req'), id: z.number().int(), method: z.literal('sessions') }),
  z.strictObject({ kind: z.literal('req'), id: z.number().int(), method: z.literal('stats') }),
  z.strictObject({ kind: z.literal('req'), id: z.number().int(), method: z.literal('stop') }),
  z.strictObject({ kind: z.literal('req'), id: z.number().int(), method: z.literal('crash') }),
  z.strictObject({ kind: z.literal('req'), id: z.number().int(), method: z.literal('connect'), address: z.string() }),
  z.strictObject({
    kind: z.literal('req'),
    id: z.number().int(),
    method: z.literal('disconnect'),
    sessionId: z.string(),
  }),
  z.strictObject({
    kind: z.literal('req'),
    id: z.number().int(),
    method: z.literal('addPeers'),
    addresses: z.array(z.string()),
  }),
  z.strictObject({
    kind: z.literal('req'),
    id: z.number().int(),
    method: z.literal('setAllowlist'),
    nodeIds: z.array(z.string()).nullable(),
  }),
])
export type WorkerRequest = z.infer<typeof requestSchema>
export type WorkerMethod = WorkerRequest['method']

/** Node.addPeers' answer: the ids kept connected, and each entry it would not take, with why. */
export const addPeersResultSchema = z.strictObject({
  added: z.array(z.string()),
  skipped: z.array(z.strictObject({ address: z.string(), reason: z.string(), message: z.string() })),
})
export type AddPeersResult = z.infer<typeof addPeersResultSchema>

const sessionRowSchema = z.looseObject({ sessionId: z.string(), remoteNodeId: z.string(), state: z.string() })

const eventSchema = z.discriminatedUnion('event', [
  z.strictObject({ kind: z.literal('event'), event: z.literal('session:open'), session: sessionRowSchema }),
  z.strictObject({
    kind: z.literal('event'),
    event: z.literal('session:close'),
    session: sessionRowSchema,
    reason: z.string(),
    byPeer: z.boolean(),
  }),
  z.strictObject({
    kind: z.literal('event'),
    event: z.literal('session:duplicate'),
    sessionId: z.string(),
    remoteNodeId: z.string(),
    winner: z.string(),
  }),
  z.strictObject({
    kind: z.literal('event'),
    event: z.literal('handshake:error'),
    reason: z.string(),
    direction: z.string(),
    remoteAddress: z.string(),
    remoteNodeId: z.string().optional(),
    claimedNodeId: z.string().optional(),
  }),
  z.strictObject({ kind: z.literal('event'), event: z.literal('handshake:suppressed'), count: z.number().int() }),
  z.strictObject({
    kind: z.literal('event'),
    event: z.literal('identity:conflict'),
    nodeId: z.string(),
    incarnations: z.array(z.string()),
    byPeer: z.boolean(),
    reportedBy: z.string().optional(),
    remoteAddress: z.string(),
  }),
])

export const workerMessageSchema = z.union([
  z.strictObject({ kind: z.literal('ready'), nodeId: z.string(), port: z.number().int(), incarnation: z.string() }),
  z.strictObject({ kind: z.literal('fatal'), code: z.string().optional(), message: z.string() }),
  z.strictObject({ kind: z.literal('res'), id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({
    kind: z.literal('res'),
    id: z.number().int(),
    ok: z.literal(false),
    /** `reason`: how a dial ended, as a close reason (`wrong-node`, `handshake-timeout`, …). */
    error: z.strictObject({ code: z.string(), message: z.string(), reason: z.string().optional() }),
  }),
  eventSchema,
])
export type WorkerMessage = z.infer<typeof workerMessageSchema>
