import { describe, expect, it } from 'vitest'
import { EventBudget } from '../src/worker/event-budget.ts'

describe('EventBudget (handshake:error forwarding from a worker)', () => {
  it('sends a burst, then `perSecond` a second; the rest are counted, never lost', () => {
    let now = 0
    const budget = new EventBudget(50, 100, () => now)
    let sent = 0
    // A flood of 4,000 failures a second for 3 s, one every 0.25 ms.
    for (let i = 0; i < 12_000; i++) {
      now = i * 0.25
      if (budget.allow()) sent++
    }
    expect(sent).toBeGreaterThanOrEqual(100 + 50 * 2)
    expect(sent).toBeLessThanOrEqual(100 + 50 * 3)
    expect(sent + budget.takeSuppressed()).toBe(12_000)
    expect(budget.takeSuppressed()).toBe(0)
  })

  it('refills while quiet, up to the burst', () => {
    let now = 0
    const budget = new EventBudget(10, 20, () => now)
    for (let i = 0; i < 20; i++) expect(budget.allow()).toBe(true)
    expect(budget.allow()).toBe(false)
    now = 60_000
    for (let i = 0; i < 20; i++) expect(budget.allow()).toBe(true)
    expect(budget.allow()).toBe(false)
  })
})
