import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { type NodeSummary, type SupervisorApi, SupervisorError } from '../supervisor-api.ts'
import {
  DialBody,
  errors,
  NodeDetailSchema,
  NodeSummarySchema,
  noContent,
  RefParams,
  SessionParams,
  SessionRowSchema,
} from './schemas.ts'

export interface NodeRoutesOptions {
  supervisor: SupervisorApi
  /** Registers the test-only POST /nodes/:ref/fault/crash. @default false */
  enableFaults?: boolean
}

const tags = ['nodes']

/** Lifecycle actions: status code of the reply and the supervisor call. */
const ACTIONS = {
  start: { status: 200, run: (s: SupervisorApi, i: number) => s.startNode(i) },
  stop: { status: 200, run: (s: SupervisorApi, i: number) => s.stopNode(i) },
  restart: { status: 200, run: (s: SupervisorApi, i: number) => s.restartNode(i) },
} as const

export const nodeRoutes: FastifyPluginAsyncZod<NodeRoutesOptions> = async (app, { supervisor, enableFaults }) => {
  // Node ids are lowercase hex; accept either case from clients.
  const indexOf = (ref: string) => supervisor.resolveRef(ref.toLowerCase())
  const row = (index: number): NodeSummary => {
    const found = supervisor.nodes().find((n) => n.index === index)
    if (found === undefined) throw new SupervisorError('ERR_UNKNOWN_NODE', `no node with index ${index}`)
    return found
  }

  app.get(
    '/nodes',
    {
      schema: {
        tags,
        operationId: 'listNodes',
        summary: 'All local nodes',
        response: { 200: z.array(NodeSummarySchema) },
      },
    },
    async () => supervisor.nodes(),
  )

  app.get(
    '/nodes/:ref',
    {
      schema: {
        tags,
        operationId: 'getNode',
        summary: 'One node with its stats counters',
        params: RefParams,
        response: { 200: NodeDetailSchema, ...errors(400, 404, 503) },
      },
    },
    async (req) => supervisor.node(indexOf(req.params.ref)),
  )

  app.get(
    '/nodes/:ref/sessions',
    {
      schema: {
        tags,
        operationId: 'listNodeSessions',
        summary: "The node's session table",
        params: RefParams,
        response: { 200: z.array(SessionRowSchema), ...errors(400, 404, 503) },
      },
    },
    async (req) => supervisor.sessions(indexOf(req.params.ref)),
  )

  app.post(
    '/nodes/:ref/peers',
    {
      schema: {
        tags,
        operationId: 'dialPeer',
        summary: 'Dial a peer from this node; resolves with the session (409/502 name how a failed dial ended)',
        params: RefParams,
        body: DialBody,
        response: { 201: SessionRowSchema, ...errors(400, 401, 404, 409, 413, 502, 503) },
      },
    },
    async (req, reply) => {
      const session = await supervisor.dial(indexOf(req.params.ref), req.body.address)
      return reply.code(201).send(session)
    },
  )

  app.delete(
    '/nodes/:ref/sessions/:sessionId',
    {
      schema: {
        tags,
        operationId: 'closeSession',
        summary: 'Close one session (reason disconnect)',
        params: SessionParams,
        response: { 204: noContent('closed'), ...errors(400, 401, 404, 503) },
      },
    },
    async (req, reply) => {
      await supervisor.closeSession(indexOf(req.params.ref), req.params.sessionId)
      return reply.code(204).send(null)
    },
  )

  for (const [action, { status, run }] of Object.entries(ACTIONS)) {
    app.post(
      `/nodes/:ref/${action}`,
      {
        schema: {
          tags,
          operationId: `${action}Node`,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} the node's worker`,
          params: RefParams,
          // 502: a worker that fails to start (start, restart) is the node failing, not the request.
          response: { 200: NodeSummarySchema, ...errors(400, 401, 404, 409, 502, 503) },
        },
      },
      async (req, reply) => {
        const index = indexOf(req.params.ref)
        await run(supervisor, index)
        return reply.code(status).send(row(index))
      },
    )
  }

  if (enableFaults === true) {
    app.post(
      '/nodes/:ref/fault/crash',
      {
        schema: {
          tags: ['faults'],
          operationId: 'crashNode',
          summary: 'Test only: kill the worker abruptly, as a crash would',
          params: RefParams,
          response: { 202: NodeSummarySchema, ...errors(400, 401, 404, 409, 503) },
        },
      },
      async (req, reply) => {
        const index = indexOf(req.params.ref)
        await supervisor.crashNode(index)
        return reply.code(202).send(row(index))
      },
    )
  }
}
