import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { MUTATING } from './auth.ts'
import { ErrorSchema } from './schemas.ts'

type Responses = Record<string, unknown>

/** A status a route answers with both its own body and an ErrorBody (e.g. /readyz 503 while shutting down). */
function withError(existing: unknown): unknown {
  if (existing === ErrorSchema) return existing
  if (existing instanceof z.ZodType) return z.union([existing, ErrorSchema])
  return existing // a content-type map (text/event-stream, metrics): its errors are declared apart
}

/**
 * Rules every documented route follows, applied as routes are added rather than repeated in each
 * route file:
 * - mutating routes declare the bearer scheme: the same rule as auth.ts, so Swagger UI's
 *   Authorize sends the token exactly where the server asks for it;
 * - the error statuses any route of its kind can answer are declared with the ErrorBody schema:
 *   500 and 503 (shutting down) for all; 400, 401, 413, 415 for a route that takes a body or a
 *   token; 400, 404, 414 for one with path parameters; 400 for one with a query schema.
 * Each route still declares its own statuses (201, 409, 502, …) and its operationId.
 */
export function registerOpenApiRules(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as (Record<string, unknown> & { response?: Responses }) | undefined
    if (schema === undefined || schema.hide === true) return
    const methods = [route.method].flat().map((m) => m.toUpperCase())
    const mutating = methods.some((m) => MUTATING.has(m))
    if (mutating) schema.security ??= [{ bearer: [] }]
    const statuses = ['500', '503']
    if (mutating) statuses.push('400', '401', '413', '415')
    if (schema.params !== undefined) statuses.push('400', '404', '414')
    if (schema.querystring !== undefined) statuses.push('400')
    const response: Responses = schema.response ?? {}
    for (const status of statuses) response[status] = status in response ? withError(response[status]) : ErrorSchema
    schema.response = response
  })
}
