/**
 * zod must stay out of the worker threads: loading it costs each one ~6.4 MiB of RSS
 * (request-guard.ts), which the node contract (@peerhouse/node/contract) would bring in if the
 * Node or the worker entry imported it for a value. The bundle's input list, written by
 * build-worker.ts (run by the test global setup), is the worker's whole module graph.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { WORKER_BUNDLE_INPUTS } from '../build-worker.ts'

describe('the worker bundle', () => {
  it('holds no zod and no contract module', () => {
    const inputs = JSON.parse(readFileSync(WORKER_BUNDLE_INPUTS, 'utf8')) as string[]
    expect(inputs.some((p) => p.includes('/packages/node/'))).toBe(true) // the list is the real graph
    expect(inputs.filter((p) => /\/node_modules\/zod\/|\/contract\.js$/.test(p))).toEqual([])
  })
})
