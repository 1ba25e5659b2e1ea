import {
  assertNetworkId,
  CLOSE_REASONS,
  type CloseReason,
  decodeAuth,
  decodeClose,
  decodeHello,
  encodeAuth,
  encodeClose,
  encodeHello,
  type Hello,
  identityFromSecretKey,
  MAX_HANDSHAKE_FRAME_BODY,
  PeerhouseError,
  toHex,
} from '@peerhouse/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

function errorOf(fn: () => unknown): PeerhouseError {
  try {
    fn()
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(PeerhouseError)
    return error as PeerhouseError
  }
  throw new Error('expected a PeerhouseError, nothing was thrown')
}

function expectMalformed(fn: () => unknown, message?: string | RegExp): void {
  const err = errorOf(fn)
  expect(err.code).toBe('ERR_MALFORMED_FRAME')
  expect(err.closeReason).toBe('protocol-error')
  if (message !== undefined) expect(err.message).toMatch(message)
}

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length })
const networkIdArb = fc.stringMatching(/^[\x21-\x7e]{1,64}$/)

const helloArb: fc.Arbitrary<Hello> = fc.record({
  version: fc.integer({ min: 0, max: 255 }),
  rule: fc.integer({ min: 0, max: 255 }),
  role: fc.constantFrom('dialer' as const, 'listener' as const),
  publicKey: bytes(33),
  incarnation: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  nonce: bytes(32),
  ephemeralKey: bytes(32),
  networkId: networkIdArb,
})

const sampleHello: Hello = {
  version: 1,
  rule: 1,
  role: 'dialer',
  publicKey: identityFromSecretKey(new Uint8Array(32).fill(7)).publicKey,
  incarnation: 42n,
  nonce: new Uint8Array(32).fill(0xaa),
  ephemeralKey: new Uint8Array(32).fill(0xbb),
  networkId: 'peerhouse-test',
}
const sampleBody = encodeHello(sampleHello)
/** Offsets in a HELLO body (docs/PROTOCOL.md, "HELLO"). */
const ROLE_AT = 7
const NET_LENGTH_AT = 1 + 4 + 1 + 1 + 1 + 33 + 8 + 32 + 32

/** A copy with one byte replaced; not `.slice()`, which on a Buffer is a view. */
function withByte(body: Uint8Array, at: number, value: number): Uint8Array {
  const out = Uint8Array.from(body)
  out[at] = value
  return out
}

describe('HELLO', () => {
  it('round-trips any well-formed HELLO', () => {
    fc.assert(
      fc.property(helloArb, (hello) => {
        const body = encodeHello(hello)
        expect(body).toHaveLength(NET_LENGTH_AT + 1 + hello.networkId.length)
        expect(body.length).toBeLessThanOrEqual(MAX_HANDSHAKE_FRAME_BODY)
        expect(decodeHello(body)).toEqual({
          ...hello,
          publicKey: new Uint8Array(hello.publicKey),
          nonce: new Uint8Array(hello.nonce),
          ephemeralKey: new Uint8Array(hello.ephemeralKey),
        })
      }),
      { numRuns: 300 },
    )
  })

  it('lays out the fixed fields as specified', () => {
    const hex = toHex(sampleBody)
    expect(hex.slice(0, 2 * 8)).toBe('0170687365010100') // type, "phse", version, rule, role=dialer
    expect(hex.slice(2 * 41, 2 * 49)).toBe('000000000000002a') // incarnation, u64 BE
    expect(sampleBody[NET_LENGTH_AT]).toBe('peerhouse-test'.length)
    expect(Buffer.from(sampleBody.subarray(NET_LENGTH_AT + 1)).toString('ascii')).toBe('peerhouse-test')
  })

  it('decoded fields do not alias the input', () => {
    const body = Uint8Array.from(sampleBody)
    const hello = decodeHello(body)
    body.fill(0)
    expect(hello.publicKey).toEqual(sampleHello.publicKey)
    expect(hello.nonce).toEqual(sampleHello.nonce)
  })

  it('rejects every truncation with ERR_MALFORMED_FRAME', () => {
    for (let length = 0; length < sampleBody.length; length++) {
      expectMalformed(() => decodeHello(sampleBody.subarray(0, length)))
    }
  })

  it('rejects any truncation or extension of any HELLO with ERR_MALFORMED_FRAME', () => {
    fc.assert(
      fc.property(
        helloArb,
        fc.oneof(
          fc.nat().map((n) => ({ cut: n, extra: new Uint8Array(0) })),
          fc.uint8Array({ minLength: 1, maxLength: 80 }).map((extra) => ({ cut: -1, extra })),
        ),
        (hello, { cut, extra }) => {
          const body = encodeHello(hello)
          const mangled = cut >= 0 ? body.subarray(0, cut % body.length) : Uint8Array.of(...body, ...extra)
          expectMalformed(() => decodeHello(mangled))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('never throws anything but ERR_MALFORMED_FRAME for arbitrary bytes after the type byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 250 }), (tail) => {
        const body = Uint8Array.of(0x01, ...tail)
        try {
          decodeHello(body)
        } catch (error) {
          expect(error).toBeInstanceOf(PeerhouseError)
          expect((error as PeerhouseError).code).toBe('ERR_MALFORMED_FRAME')
        }
      }),
      { numRuns: 500 },
    )
  })

  it('rejects a wrong type byte', () => {
    expectMalformed(() => decodeHello(withByte(sampleBody, 0, 0x02)), 'expected HELLO (0x01), got type 0x2')
  })

  it('rejects bad magic', () => {
    for (let at = 1; at <= 4; at++) {
      expectMalformed(() => decodeHello(withByte(sampleBody, at, 0x00)), 'magic')
    }
  })

  it.each([2, 0x80, 0xff])('rejects role byte %i', (role) => {
    expectMalformed(() => decodeHello(withByte(sampleBody, ROLE_AT, role)), `role ${role} is not 0 or 1`)
  })

  it('decodes role byte 1 as listener', () => {
    expect(decodeHello(withByte(sampleBody, ROLE_AT, 1)).role).toBe('listener')
  })

  it('rejects network id length 0', () => {
    const body = withByte(sampleBody, NET_LENGTH_AT, 0).subarray(0, NET_LENGTH_AT + 1)
    expectMalformed(() => decodeHello(body), 'network id length 0 is not 1-64')
  })

  it('rejects network id length 65 even when the bytes are present', () => {
    const body = Uint8Array.of(...sampleBody.subarray(0, NET_LENGTH_AT), 65, ...new Uint8Array(65).fill(0x61))
    expectMalformed(() => decodeHello(body), 'network id length 65 is not 1-64')
  })

  it('accepts network id length 64', () => {
    const networkId = 'n'.repeat(64)
    expect(decodeHello(encodeHello({ ...sampleHello, networkId })).networkId).toBe(networkId)
  })

  it('rejects a network id length that disagrees with the body length', () => {
    const body = withByte(sampleBody, NET_LENGTH_AT, 'peerhouse-test'.length - 1)
    expectMalformed(() => decodeHello(body), /HELLO is \d+ bytes, expected \d+/)
  })

  it('rejects a network id that is not printable ASCII (invalid UTF-8, valid UTF-8, space, control)', () => {
    for (const byte of [0xff, 0xc3, 0x20, 0x7f, 0x00]) {
      const body = withByte(sampleBody, NET_LENGTH_AT + 1, byte)
      expectMalformed(() => decodeHello(body), 'not printable ASCII')
    }
  })
})

describe('assertNetworkId', () => {
  it('accepts 1-64 printable ASCII characters', () => {
    fc.assert(
      fc.property(networkIdArb, (id) => {
        expect(() => assertNetworkId(id)).not.toThrow()
      }),
    )
  })

  it.each(['', ' ', 'has space', 'tab\t', 'é', 'x'.repeat(65), '\x7f'])('rejects %j with ERR_INVALID_OPTION', (id) => {
    expect(errorOf(() => assertNetworkId(id)).code).toBe('ERR_INVALID_OPTION')
  })
})

describe('AUTH', () => {
  it('round-trips any 64-byte signature', () => {
    fc.assert(
      fc.property(bytes(64), (signature) => {
        const body = encodeAuth(signature)
        expect(body).toHaveLength(65)
        expect(body[0]).toBe(0x02)
        expect(toHex(decodeAuth(body))).toBe(toHex(signature))
      }),
    )
  })

  it('rejects a wrong type byte and every other length', () => {
    const body = encodeAuth(new Uint8Array(64).fill(5))
    expectMalformed(() => decodeAuth(withByte(body, 0, 0x01)), 'expected AUTH (0x02), got type 0x1')
    expectMalformed(() => decodeAuth(new Uint8Array(0)), 'expected AUTH')
    for (let length = 1; length < body.length; length++) {
      expectMalformed(() => decodeAuth(body.subarray(0, length)), `AUTH is ${length} bytes, expected 65`)
    }
    expectMalformed(() => decodeAuth(Uint8Array.of(...body, 0)), 'AUTH is 66 bytes, expected 65')
  })
})

describe('CLOSE', () => {
  const reasons = Object.keys(CLOSE_REASONS) as CloseReason[]
  const sessionIdArb = bytes(16)
    .filter((b) => b.some((x) => x !== 0))
    .map(toHex)

  it('round-trips every reason, with and without a winner', () => {
    fc.assert(
      fc.property(fc.constantFrom(...reasons), fc.option(sessionIdArb, { nil: undefined }), (reason, winner) => {
        const close = winner === undefined ? { reason } : { reason, winner }
        const body = encodeClose(close)
        expect(body).toHaveLength(18)
        expect(body[0]).toBe(0x03)
        expect(body[1]).toBe(CLOSE_REASONS[reason])
        expect(decodeClose(body)).toEqual(close)
      }),
      { numRuns: 200 },
    )
  })

  it('decodes unknown reason codes as protocol-error', () => {
    const known = new Set<number>(Object.values(CLOSE_REASONS))
    for (let code = 0; code < 256; code++) {
      if (known.has(code)) continue
      expect(decodeClose(withByte(encodeClose({ reason: 'shutdown' }), 1, code)).reason).toBe('protocol-error')
    }
  })

  it('keeps the wire numbers stable', () => {
    expect(CLOSE_REASONS).toMatchObject({ shutdown: 1, duplicate: 2, 'protocol-error': 11, 'connection-lost': 17 })
    expect(new Set(Object.values(CLOSE_REASONS)).size).toBe(reasons.length)
  })

  it('rejects a wrong type byte and every other length', () => {
    const body = encodeClose({ reason: 'duplicate', winner: 'ab'.repeat(16) })
    expectMalformed(() => decodeClose(withByte(body, 0, 0x02)), 'expected CLOSE (0x03), got type 0x2')
    expectMalformed(() => decodeClose(new Uint8Array(0)), 'expected CLOSE')
    for (let length = 1; length < body.length; length++) {
      expectMalformed(() => decodeClose(body.subarray(0, length)), `CLOSE is ${length} bytes, expected 18`)
    }
    expectMalformed(() => decodeClose(Uint8Array.of(...body, 0)), 'CLOSE is 19 bytes, expected 18')
  })

  it('decodes a CLOSE that sits at an offset inside a larger buffer', () => {
    const body = encodeClose({ reason: 'duplicate', winner: 'cd'.repeat(16) })
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 18]), body, Buffer.from([9, 9])])
    expect(decodeClose(framed.subarray(4, 22))).toEqual({ reason: 'duplicate', winner: 'cd'.repeat(16) })
  })
})
