import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameDecoder,
  frameHeader,
  MAX_FRAME_BODY,
  MAX_HANDSHAKE_FRAME_BODY,
  PeerhouseError,
  toHex,
} from '@peerhouse/protocol'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'

function errorOf(fn: () => unknown): PeerhouseError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(PeerhouseError)
    return error as PeerhouseError
  }
  throw new Error('expected a PeerhouseError, nothing was thrown')
}

/** Pulls every complete frame, copying each so later pushes cannot alias it. */
function drain(decoder: FrameDecoder): { header: string; body: string }[] {
  const out: { header: string; body: string }[] = []
  for (let frame: Frame | undefined = decoder.next(); frame !== undefined; frame = decoder.next()) {
    out.push({ header: toHex(frame.header), body: toHex(frame.body) })
  }
  return out
}

function bodyHex(frame: Frame | undefined): string | undefined {
  return frame && toHex(frame.body)
}

function expected(bodies: Uint8Array[]): { header: string; body: string }[] {
  return bodies.map((body) => ({ header: toHex(frameHeader(body.length)), body: toHex(body) }))
}

/** Splits `bytes` at the given offsets (sorted, deduplicated, inside the range). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  return chunks
}

const bodyArb = fc.uint8Array({ minLength: 1, maxLength: 64 })

describe('FrameDecoder', () => {
  it('decodes one frame split at every possible byte boundary', () => {
    const body = Uint8Array.from({ length: 10 }, (_, i) => i + 1)
    const stream = encodeFrame(body)
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder(100)
      decoder.push(stream.subarray(0, cut))
      const early = drain(decoder)
      decoder.push(stream.subarray(cut))
      const frames = [...early, ...drain(decoder)]
      expect(frames, `cut at ${cut}`).toEqual(expected([body]))
      expect(decoder.buffered).toBe(0)
    }
  })

  it('decodes a byte-at-a-time stream', () => {
    const bodies = [Uint8Array.of(1), Uint8Array.of(2, 3), new Uint8Array(300).fill(7)]
    const stream = Buffer.concat(bodies.map(encodeFrame))
    const decoder = new FrameDecoder(1000)
    const frames: ReturnType<typeof drain> = []
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.subarray(i, i + 1))
      frames.push(...drain(decoder))
    }
    expect(frames).toEqual(expected(bodies))
  })

  it('a 1 MiB frame trickled in 4 KiB chunks: the buffer doubles (amortised O(1) per byte), never past twice what came', () => {
    const body = new Uint8Array(1024 * 1024).map((_, i) => i % 251)
    const stream = encodeFrame(body)
    const decoder = new FrameDecoder(body.length)
    const frames: ReturnType<typeof drain> = []
    const allocations = vi.spyOn(Buffer, 'allocUnsafe')
    let received = 0
    for (let at = 0; at < stream.length; at += 4096) {
      const chunk = stream.subarray(at, at + 4096)
      received += chunk.length
      decoder.push(chunk)
      expect(decoder.held).toBeLessThanOrEqual(Math.max(2 * received, 4096))
      frames.push(...drain(decoder))
    }
    const sizes = allocations.mock.calls.map((c) => c[0] as number)
    allocations.mockRestore()
    // 4 KiB → 1 MiB by doubling: a handful of allocations, together under three times the frame
    // (one per chunk, as a plain join would do, is 256 allocations and 128 MiB).
    expect(sizes.length).toBeLessThanOrEqual(10)
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3 * stream.length)
    expect(frames).toEqual(expected([body]))
    expect(decoder.buffered).toBe(0)
  })

  it('a header declaring 1 MiB reserves nothing like it: memory follows the bytes that came', () => {
    const decoder = new FrameDecoder(1024 * 1024)
    decoder.push(frameHeader(1024 * 1024))
    decoder.push(new Uint8Array(11))
    expect(drain(decoder)).toEqual([])
    expect(decoder.held).toBeLessThanOrEqual(4096)
  })

  it('a small tail after a large frame does not keep the large buffer alive', () => {
    const big = encodeFrame(new Uint8Array(1024 * 1024))
    const tail = encodeFrame(new Uint8Array(8000)).subarray(0, 4094)
    const decoder = new FrameDecoder(1024 * 1024)
    for (let at = 0; at < big.length - 1; at += 60_000)
      decoder.push(big.subarray(at, Math.min(at + 60_000, big.length - 1)))
    expect(drain(decoder)).toEqual([])
    decoder.push(Buffer.concat([big.subarray(big.length - 1), tail]))
    expect(drain(decoder)).toHaveLength(1)
    expect(decoder.buffered).toBe(4094)
    expect(decoder.held).toBe(4094)
  })

  it('decodes any chunking of any frame sequence identically', () => {
    fc.assert(
      fc.property(
        fc.array(bodyArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map(encodeFrame))
          const decoder = new FrameDecoder(64)
          const frames: ReturnType<typeof drain> = []
          for (const chunk of split(stream, cuts)) {
            decoder.push(chunk)
            frames.push(...drain(decoder))
          }
          expect(frames).toEqual(expected(bodies))
          expect(decoder.buffered).toBe(0)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keeps a partial frame buffered until the rest arrives', () => {
    const decoder = new FrameDecoder(100)
    const stream = encodeFrame(Uint8Array.of(9, 9, 9))
    decoder.push(stream.subarray(0, 5))
    expect(decoder.next()).toBeUndefined()
    expect(decoder.buffered).toBe(5)
    decoder.push(stream.subarray(5))
    expect(bodyHex(decoder.next())).toBe('090909')
    expect(decoder.next()).toBeUndefined()
  })

  it('accepts a body of exactly maxBody bytes', () => {
    const decoder = new FrameDecoder(16)
    decoder.push(encodeFrame(new Uint8Array(16)))
    expect(decoder.next()?.body).toHaveLength(16)
  })

  it('rejects length 0 with ERR_MALFORMED_FRAME', () => {
    const decoder = new FrameDecoder(100)
    decoder.push(frameHeader(0))
    const err = errorOf(() => decoder.next())
    expect(err.code).toBe('ERR_MALFORMED_FRAME')
    expect(err.closeReason).toBe('protocol-error')
  })

  it('rejects a length over maxBody as soon as the 4-byte header arrives', () => {
    for (const length of [17, 1000, 0xffffffff]) {
      const decoder = new FrameDecoder(16)
      const header = frameHeader(length)
      for (let i = 0; i < FRAME_HEADER_BYTES - 1; i++) {
        decoder.push(header.subarray(i, i + 1))
        expect(decoder.next()).toBeUndefined()
      }
      decoder.push(header.subarray(FRAME_HEADER_BYTES - 1))
      const err = errorOf(() => decoder.next())
      expect(err.code).toBe('ERR_FRAME_TOO_LARGE')
      expect(err.closeReason).toBe('frame-too-large')
      expect(err.message).toContain(`frame length ${length} exceeds the maximum 16`)
    }
  })

  it('rejects an oversized frame that follows a good one, after returning the good one', () => {
    const decoder = new FrameDecoder(16)
    decoder.push(Buffer.concat([encodeFrame(Uint8Array.of(1)), frameHeader(17)]))
    expect(bodyHex(decoder.next())).toBe('01')
    expect(errorOf(() => decoder.next()).code).toBe('ERR_FRAME_TOO_LARGE')
  })

  it('lets maxBody be raised between next() calls when a small and a big frame arrive in one chunk', () => {
    const small = new Uint8Array(65).fill(2)
    const big = new Uint8Array(MAX_HANDSHAKE_FRAME_BODY + 1000).fill(3)
    const chunk = Buffer.concat([encodeFrame(small), encodeFrame(big)])

    const raised = new FrameDecoder(MAX_HANDSHAKE_FRAME_BODY)
    raised.push(chunk)
    expect(bodyHex(raised.next())).toBe(toHex(small))
    raised.maxBody = MAX_FRAME_BODY
    expect(bodyHex(raised.next())).toBe(toHex(big))
    expect(raised.buffered).toBe(0)

    const notRaised = new FrameDecoder(MAX_HANDSHAKE_FRAME_BODY)
    notRaised.push(chunk)
    expect(bodyHex(notRaised.next())).toBe(toHex(small))
    expect(errorOf(() => notRaised.next()).code).toBe('ERR_FRAME_TOO_LARGE')
  })

  it('returns frames that survive later pushes', () => {
    const decoder = new FrameDecoder(100)
    const stream = Buffer.concat([encodeFrame(Uint8Array.of(1, 2)), encodeFrame(Uint8Array.of(3, 4))])
    decoder.push(stream.subarray(0, 8))
    const first = decoder.next()
    decoder.push(stream.subarray(8))
    const second = decoder.next()
    expect(bodyHex(first)).toBe('0102')
    expect(bodyHex(second)).toBe('0304')
  })
})

describe('encodeFrame / frameHeader', () => {
  it('prefixes the body with its big-endian u32 length', () => {
    expect(toHex(frameHeader(0x01020304))).toBe('01020304')
    expect(toHex(encodeFrame(Uint8Array.of(0xaa, 0xbb)))).toBe('00000002aabb')
  })
})
