import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { SupervisorApi } from '../supervisor-api.ts'
import { AdminApiError } from './errors.ts'
import { AllowlistAddBody, AllowlistBody, AllowlistIdParams, AllowlistSchema, errors, noContent } from './schemas.ts'

export interface AllowlistRoutesOptions {
  supervisor: SupervisorApi
}

/** Fits MAX_ALLOWLIST_IDS ids; every other route keeps the app's small limit. */
export const ALLOWLIST_BODY_LIMIT_BYTES = 1024 * 1024

const tags = ['allowlist']

/**
 * Permissioned mode: the consortium allowlist in `<data-dir>/allowlist.json`. Every change is
 * written to the file and in force on every running node when the reply is sent.
 */
export const allowlistRoutes: FastifyPluginAsyncZod<AllowlistRoutesOptions> = async (app, { supervisor }) => {
  app.get(
    '/allowlist',
    {
      schema: {
        tags,
        operationId: 'getAllowlist',
        summary: 'The allowlist file and the effective list',
        response: { 200: AllowlistSchema },
      },
    },
    async () => supervisor.allowlist(),
  )

  app.put(
    '/allowlist',
    {
      bodyLimit: ALLOWLIST_BODY_LIMIT_BYTES,
      schema: {
        tags,
        operationId: 'replaceAllowlist',
        summary: 'Replace the allowlist; ids no longer on it are disconnected (not-allowed)',
        body: AllowlistBody,
        response: { 200: AllowlistSchema, ...errors(400, 401, 413) },
      },
    },
    async (req) => supervisor.setAllowlist(req.body),
  )

  app.post(
    '/allowlist',
    {
      schema: {
        tags,
        operationId: 'addAllowlistId',
        summary: 'Add one node id (201; 200 if it was already there)',
        body: AllowlistAddBody,
        response: { 200: AllowlistSchema, 201: AllowlistSchema, ...errors(400, 401, 413) },
      },
    },
    async (req, reply) => {
      const added = await supervisor.allowlistAdd([req.body.nodeId])
      return reply.code(added.length > 0 ? 201 : 200).send(supervisor.allowlist())
    },
  )

  app.delete(
    '/allowlist/:nodeId',
    {
      schema: {
        tags,
        operationId: 'removeAllowlistId',
        summary: 'Remove one node id; its sessions are closed with reason not-allowed',
        params: AllowlistIdParams,
        response: { 204: noContent('removed'), ...errors(400, 401, 404) },
      },
    },
    async (req, reply) => {
      if (!(await supervisor.allowlistRemove(req.params.nodeId))) {
        throw new AdminApiError('ERR_NOT_FOUND', `${req.params.nodeId} is not on the allowlist`)
      }
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/allowlist/reload',
    {
      schema: {
        tags,
        operationId: 'reloadAllowlist',
        summary: 'Re-read allowlist.json now (409 and the last good list kept if it is invalid)',
        response: { 200: AllowlistSchema, ...errors(401, 409) },
      },
    },
    async () => supervisor.allowlistReload(),
  )
}
