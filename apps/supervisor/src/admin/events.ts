import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { SUPERVISOR_EVENT_TYPES } from '../contract.ts'
import type { SupervisorApi, SupervisorEvent } from '../supervisor-api.ts'
import { AdminApiError } from './errors.ts'
import { errors, refSchema } from './schemas.ts'
import type { SseFilter, SseHub } from './sse-hub.ts'

export { formatSse } from './sse-hub.ts'

export interface EventRoutesOptions {
  supervisor: SupervisorApi
  hub: SseHub
}

/** Every SupervisorEvent type, for `?types=`: the contract's own list, so it cannot fall behind the union. */
export const SSE_EVENT_TYPES = SUPERVISOR_EVENT_TYPES

const TYPES = new Set<string>(SSE_EVENT_TYPES)

export const EventsQuery = z.strictObject({
  node: refSchema.optional().describe('only events of this node (index or id); allowlist events carry no node'),
  types: z
    .string()
    .max(512)
    .transform((value, ctx) => {
      const list = value.split(',').filter((t) => t !== '')
      const unknown = list.filter((t) => !TYPES.has(t))
      if (list.length === 0 || unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${unknown.length > 0 ? `unknown event type ${JSON.stringify(unknown[0])}` : 'empty list'}; expected a comma-separated list of ${SSE_EVENT_TYPES.join(', ')}`,
        })
        return z.NEVER
      }
      return new Set(list as SupervisorEvent['type'][])
    })
    .optional()
    .describe(`comma-separated event types: ${SSE_EVENT_TYPES.join(', ')}`),
})

/** GET /events: SupervisorEvents as Server-Sent Events, one `event:` per SupervisorEvent type. */
export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, { supervisor, hub }) => {
  app.addHook('preClose', async () => hub.endAll())

  app.get(
    '/events',
    {
      // HEAD would take a slot and never carry a byte, so no slow-client check could ever drop it.
      exposeHeadRoute: false,
      schema: {
        tags: ['cluster'],
        operationId: 'streamEvents',
        summary:
          'Server-Sent Events: session open/close/duplicate, handshake errors, node status, allowlist changes, identity conflicts',
        querystring: EventsQuery,
        response: {
          200: {
            description: '`event: <type>` / `data: <SupervisorEvent JSON>` blocks, `: heartbeat` comments',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          // 503: every stream slot taken (ERR_TOO_MANY_CLIENTS).
          ...errors(400, 404, 503),
        },
      },
    },
    (req, reply) => {
      const filter: SseFilter = {
        index: req.query.node === undefined ? undefined : supervisor.resolveRef(req.query.node.toLowerCase()),
        types: req.query.types,
      }
      if (!hub.reserve()) {
        // Close the connection too: a refused client that never reads must not keep a socket here.
        reply.header('retry-after', '5').header('connection', 'close')
        throw new AdminApiError('ERR_TOO_MANY_CLIENTS', `${hub.clients} event streams open, the most this server takes`)
      }
      reply.hijack()
      hub.add(reply.raw, filter)
    },
  )
}
