import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameCounter } from './tcp-proxy.ts'

function frame(bodyLength: number): Buffer {
  const f = Buffer.alloc(4 + bodyLength, 0xab)
  f.writeUInt32BE(bodyLength, 0)
  return f
}

describe('FrameCounter (fault proxy)', () => {
  it('counts whole frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map(frame))
          const counter = new FrameCounter()
          let at = 0
          for (let i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length] as number
            counter.feed(stream.subarray(at, at + size))
            at += size
          }
          expect(counter.frames).toBe(bodies.length)
        },
      ),
    )
  })

  it('does not count a frame before its last byte', () => {
    const counter = new FrameCounter()
    const f = frame(18)
    counter.feed(f.subarray(0, f.length - 1))
    expect(counter.frames).toBe(0)
    counter.feed(f.subarray(f.length - 1))
    expect(counter.frames).toBe(1)
  })
})
