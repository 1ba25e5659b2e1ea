import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { AllowlistView, SupervisorApi } from '../supervisor-api.ts'
import { AdminApiError } from './errors.ts'
import {
  AllowlistAddBody,
  AllowlistBody,
  AllowlistChangeSchema,
  AllowlistIdParams,
  AllowlistSchema,
  errors,
} from './schemas.ts'

export interface AllowlistRoutesOptions {
  supervisor: SupervisorApi
}

/** Fits MAX_ALLOWLIST_IDS ids; every other route keeps the app's small limit. */
export const ALLOWLIST_BODY_LIMIT_BYTES = 1024 * 1024

const tags = ['allowlist']

/**
 * The answer to a change: the resulting state, plus a warning while the list is not enforced.
 * Adding a member to a disabled list (the state of a fresh cluster) leaves the network open, and
 * removing one does not cut it off; `always` is for those two. A PUT or reload states `enabled`
 * itself, so it is warned about only when ids sit on a disabled list.
 */
export function changed(view: AllowlistView, always: boolean): AllowlistView & { warning?: string } {
  if (view.enabled || (!always && view.nodeIds.length === 0)) return view
  const n = view.nodeIds.length
  return {
    ...view,
    warning:
      `the allowlist is disabled: its ${n} ${n === 1 ? 'id is' : 'ids are'} not enforced and any peer of the ` +
      'network may connect; PUT /allowlist with "enabled": true to enforce it',
  }
}

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
        response: { 200: AllowlistChangeSchema, ...errors(400, 401, 413) },
      },
    },
    async (req) => changed(await supervisor.setAllowlist(req.body), false),
  )

  app.post(
    '/allowlist',
    {
      schema: {
        tags,
        operationId: 'addAllowlistId',
        summary: 'Add one node id (201; 200 if it was already there); `warning` while the list is disabled',
        body: AllowlistAddBody,
        response: { 200: AllowlistChangeSchema, 201: AllowlistChangeSchema, ...errors(400, 401, 413) },
      },
    },
    async (req, reply) => {
      const added = await supervisor.allowlistAdd([req.body.nodeId])
      return reply.code(added.length > 0 ? 201 : 200).send(changed(supervisor.allowlist(), true))
    },
  )

  app.delete(
    '/allowlist/:nodeId',
    {
      schema: {
        tags,
        operationId: 'removeAllowlistId',
        summary:
          'Remove one node id; while the list is enforced its sessions are closed with reason not-allowed; `warning` while it is disabled',
        params: AllowlistIdParams,
        response: { 200: AllowlistChangeSchema, ...errors(400, 401, 404) },
      },
    },
    async (req) => {
      if (!(await supervisor.allowlistRemove(req.params.nodeId))) {
        throw new AdminApiError('ERR_NOT_FOUND', `${req.params.nodeId} is not on the allowlist`)
      }
      return changed(supervisor.allowlist(), true)
    },
  )

  app.post(
    '/allowlist/reload',
    {
      schema: {
        tags,
        operationId: 'reloadAllowlist',
        summary: 'Re-read allowlist.json now (409 and the last good list kept if it is invalid)',
        response: { 200: AllowlistChangeSchema, ...errors(401, 409) },
      },
    },
    async () => changed(await supervisor.allowlistReload(), false),
  )
}
