import { describe, expect, it } from 'vitest'
import { SnapshotProgress } from '../src/snapshot-progress.ts'

describe('SnapshotProgress', () => {
  it('is loading from a connect until both /nodes and /topology of that round arrived', () => {
    const s = new SnapshotProgress()
    expect(s.loadedOnce).toBe(false)
    s.begin()
    expect(s.loading).toBe(true)
    s.done('nodes', s.round)
    expect(s.loading).toBe(true)
    expect(s.loadedOnce).toBe(false)
    s.done('topology', s.round)
    expect(s.loading).toBe(false)
    expect(s.loadedOnce).toBe(true)
  })

  it('after a reconnect: loading again, the old counts kept, an answer from before the reconnect not counted', () => {
    const s = new SnapshotProgress()
    s.begin()
    const before = s.round
    s.done('nodes', before)
    s.done('topology', before)
    const inFlight = s.round // a /topology fetch sent just before the stream dropped
    s.begin()
    expect(s.loading).toBe(true)
    expect(s.loadedOnce).toBe(true)
    s.done('topology', inFlight)
    s.done('nodes', s.round)
    expect(s.loading).toBe(true)
    s.done('topology', s.round)
    expect(s.loading).toBe(false)
  })

  it('a part fetched before any connect does not make the page loaded', () => {
    const s = new SnapshotProgress()
    s.done('nodes', s.round)
    s.done('topology', s.round)
    expect(s.loadedOnce).toBe(false)
  })
})
