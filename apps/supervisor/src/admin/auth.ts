import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { AdminApiError } from './errors.ts'

/** Methods that need the token; openapi.ts declares the bearer scheme on exactly these. */
export const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

const digest = (s: string) => createHash('sha256').update(s).digest()

/** Constant-time check of an `Authorization: Bearer <token>` header; hashing first evens out the lengths. */
export function bearerMatches(expected: string, header: string | undefined): boolean {
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  const given = match?.[1] ?? ''
  return timingSafeEqual(digest(given), digest(expected)) && match !== null
}

/** With a token set, mutating requests need it; reads stay open. Runs before the body is read. */
export function registerAuth(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return
  if (token.length === 0) throw new TypeError('adminToken must not be empty (omit it to disable auth)')
  app.addHook('onRequest', async (req, reply) => {
    if (!MUTATING.has(req.method)) return
    if (bearerMatches(token, req.headers.authorization)) return
    reply.header('www-authenticate', 'Bearer realm="peerhouse-admin"')
    throw new AdminApiError(
      'ERR_UNAUTHORIZED',
      req.headers.authorization === undefined
        ? 'missing Authorization: Bearer <token> header (required for mutating routes)'
        : 'invalid admin token',
    )
  })
}
