import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Scheduler } from '../src/scheduler.ts'

/**
 * The scheduler is the one order of a run: by time, then by the order events were scheduled.
 * Checked against a stable sort of the same schedule, including events scheduled from inside
 * events, cancellations, and task objects mixed with closures.
 */
describe('Scheduler', () => {
  it('runs events by (time, scheduling order), as a stable sort would, with cancels and nested scheduling', () => {
    const op = fc.record({
      ms: fc.oneof(
        fc.constantFrom(0, 1, 5),
        fc.integer({ min: 0, max: 50 }),
        fc.double({ min: 0, max: 50, noNaN: true }),
      ),
      cancel: fc.boolean(),
      task: fc.boolean(),
      child: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const s = new Scheduler()
        const ran: number[] = []
        // The expected order: every scheduled event as (at, seq), minus the cancelled, sorted.
        const expected: { at: number; seq: number; id: number }[] = []
        let seq = 0
        let nextId = 0
        const add = (ms: number, child: number | undefined, asTask: boolean): { cancel(): void } => {
          const id = nextId++
          const entry = { at: s.now + Math.max(0, ms), seq: seq++, id }
          expected.push(entry)
          const fn = () => {
            ran.push(id)
            if (child !== undefined) add(child, undefined, !asTask)
          }
          const handle = asTask ? s.schedule(ms, { run: fn }) : s.after(ms, fn)
          return {
            cancel: () => {
              handle.cancel()
              expected.splice(expected.indexOf(entry), 1)
            },
          }
        }
        const handles = ops.map((o) => ({ h: add(o.ms, o.child, o.task), cancel: o.cancel }))
        for (const { h, cancel } of handles) if (cancel) h.cancel()
        while (s.step()) {}
        const order = [...expected].sort((a, b) => a.at - b.at || a.seq - b.seq).map((e) => e.id)
        expect(ran).toEqual(order)
        expect(s.executed).toBe(order.length)
      }),
      { numRuns: 300 },
    )
  })

  it('step(until) runs nothing due later, peek skips cancelled events, advanceTo never goes back', () => {
    const s = new Scheduler()
    const ran: string[] = []
    const a = s.after(10, () => ran.push('a'))
    s.after(20, () => ran.push('b'))
    a.cancel()
    expect(s.peek()).toBe(20)
    expect(s.step(19)).toBe(false)
    expect(s.now).toBe(0)
    s.advanceTo(15)
    expect(s.step(25)).toBe(true)
    expect(ran).toEqual(['b'])
    expect(s.now).toBe(20)
    s.advanceTo(5)
    expect(s.now).toBe(20)
    expect(s.peek()).toBeUndefined()
  })
})
