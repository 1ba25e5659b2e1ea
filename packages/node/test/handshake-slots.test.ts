import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Connection } from '../src/connection.ts'
import { HandshakeSlots } from '../src/handshake-slots.ts'

/** Slots only ever compare connections by identity: opaque objects stand in for them. */
const conn = (i: number) => ({ i }) as unknown as Connection

describe('HandshakeSlots', () => {
  it('never holds more than max, kept-aside places included, whatever the arrivals claim', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.record({ claims: fc.option(fc.nat(40)), protectedId: fc.boolean() }), { maxLength: 400 }),
        (max, arrivals) => {
          const slots = new HandshakeSlots(max)
          const held = new Set<Connection>()
          arrivals.forEach((a, i) => {
            const evicted = slots.makeRoom()
            if (evicted !== undefined) {
              expect(held.delete(evicted)).toBe(true)
            }
            const c = conn(i)
            slots.add(c)
            held.add(c)
            if (a.claims !== null) slots.claim(c, `id-${a.claims}`, a.protectedId)
            expect(slots.size + slots.keptAside).toBe(held.size)
            expect(held.size).toBeLessThanOrEqual(max)
            expect(slots.keptAside).toBeLessThanOrEqual(Math.max(1, Math.floor(max / 4)))
          })
        },
      ),
    )
  })

  it('evicts the oldest of the pool first; kept-aside ones only when nothing else is left', () => {
    const slots = new HandshakeSlots(4)
    const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(conn) as [Connection, Connection, Connection, Connection, Connection]
    for (const x of [a, b, c, d]) slots.add(x)
    slots.claim(a, 'member', true) // a is kept aside (1 place at max 4)
    slots.claim(b, 'other-member', true) // no room for a second one
    expect(slots.makeRoom()).toBe(b) // the oldest of the pool, not a
    slots.add(e)
    expect(slots.makeRoom()).toBe(c)
    slots.release(d)
    slots.release(e)
    expect(slots.makeRoom()).toBeUndefined()
  })
})
