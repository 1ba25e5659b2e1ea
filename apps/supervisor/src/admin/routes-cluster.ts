import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { SupervisorApi } from '../supervisor-api.ts'
import { errors, ReadinessSchema, SessionWithLocalSchema, TopologySchema } from './schemas.ts'

export interface ClusterRoutesOptions {
  supervisor: SupervisorApi
}

const tags = ['cluster']

export const clusterRoutes: FastifyPluginAsyncZod<ClusterRoutesOptions> = async (app, { supervisor }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags,
        operationId: 'getHealth',
        summary: 'Liveness',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        tags,
        operationId: 'getReadiness',
        summary: 'Every node running and the configured topology fully connected',
        response: { 200: ReadinessSchema, 503: ReadinessSchema },
      },
    },
    async (_req, reply) => {
      const readiness = await supervisor.readiness()
      return reply.code(readiness.ready ? 200 : 503).send(readiness)
    },
  )

  app.get(
    '/sessions',
    {
      schema: {
        tags,
        operationId: 'listAllSessions',
        summary: "Every local node's sessions",
        response: { 200: z.array(SessionWithLocalSchema), ...errors(503) },
      },
    },
    async () => supervisor.allSessions(),
  )

  app.get(
    '/topology',
    {
      schema: {
        tags,
        operationId: 'getTopology',
        summary: 'Links, duplicates, asymmetric and missing pairs',
        response: { 200: TopologySchema, ...errors(503) },
      },
    },
    async () => supervisor.topology(),
  )
}
