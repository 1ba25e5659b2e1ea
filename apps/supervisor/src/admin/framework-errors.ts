import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { AdminApiError, type ErrorBody, errorBody, errorHandler } from './errors.ts'

/**
 * The error answers that no route writes: Node's HTTP parser errors, Fastify's router (414, bad
 * percent-encoding), an unknown `Expect`, requests during close. Left alone, each has a body of its
 * own shape (or none); here every one is an ErrorBody like the routes' (issue 9: "the 414 body
 * does not follow the error format").
 */
export const frameworkErrorOptions = {
  // The router's 400 (bad URL) and 414 (parameter over maxParamLength) go through our handler.
  frameworkErrors: (err, req, reply) => errorHandler(err, req, reply),
  clientErrorHandler,
  // Fastify's own closing 503 has its own body; the hook below answers instead.
  return503OnClosing: false,
} satisfies Partial<FastifyServerOptions>

function writeRaw(socket: Duplex, out: ErrorBody): void {
  const json = JSON.stringify(out)
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${out.statusCode} ${out.error}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
    )
  }
  socket.destroy()
}

/** Node's `clientError`: the request could not be parsed at all; answer, then close the connection. */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  if (err.code === 'HPE_HEADER_OVERFLOW') writeRaw(socket, errorBody('ERR_HEADERS_TOO_LARGE', 'headers over 16 KiB'))
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    writeRaw(socket, errorBody('ERR_REQUEST_TIMEOUT', 'the request did not arrive in time'))
  else writeRaw(socket, errorBody('ERR_BAD_REQUEST', 'malformed HTTP request'))
}

/** Node-level answers of a listening app, and the 503 for requests that arrive while it closes. */
export function registerFrameworkErrors(app: FastifyInstance): void {
  // Node answers an HTTP/1.1 request without Host with an empty 400 before Fastify sees it. The
  // API is reached by address (loopback), so Host carries nothing we check: serve it.
  ;(app.server as { requireHostHeader?: boolean }).requireHostHeader = false
  app.server.on('checkExpectation', (req, res: ServerResponse) => {
    const out = errorBody('ERR_EXPECTATION_FAILED', `unsupported expect: ${String(req.headers.expect).slice(0, 64)}`)
    const json = JSON.stringify(out)
    res.writeHead(out.statusCode, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      connection: 'close',
    })
    res.end(json)
  })
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (_req, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new AdminApiError('ERR_SHUTTING_DOWN', 'the admin API is shutting down')
  })
}
