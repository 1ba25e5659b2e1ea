import {
  EPHEMERAL_KEY_BYTES,
  MAGIC,
  MAX_NETWORK_ID_BYTES,
  MESSAGE_TYPES,
  NONCE_BYTES,
  ROLE_DIALER,
  ROLE_LISTENER,
  type Role,
  SESSION_ID_BYTES,
} from './constants.ts'
import { type CloseReason, closeReasonCode, closeReasonFromCode, PeerhouseError } from './errors.ts'
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './identity.ts'

export interface Hello {
  readonly version: number
  readonly rule: number
  readonly role: Role
  readonly publicKey: Uint8Array
  readonly incarnation: bigint
  readonly nonce: Uint8Array
  readonly ephemeralKey: Uint8Array
  readonly networkId: string
}

export interface Close {
  readonly reason: CloseReason
  /** Session id (hex) of the session that survives, for reasons `duplicate` and `stale`. */
  readonly winner?: string
}

const HELLO_FIXED = 1 + 4 + 1 + 1 + 1 + PUBLIC_KEY_BYTES + 8 + NONCE_BYTES + EPHEMERAL_KEY_BYTES + 1
const CLOSE_BYTES = 1 + 1 + SESSION_ID_BYTES
const ZERO_SESSION = Buffer.alloc(SESSION_ID_BYTES)

function malformed(what: string): PeerhouseError {
  return new PeerhouseError('ERR_MALFORMED_FRAME', what)
}

/** Network ids are short printable ASCII so that mismatches are easy to read in logs. */
export function assertNetworkId(networkId: string): void {
  if (typeof networkId !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(networkId)) {
    throw new PeerhouseError(
      'ERR_INVALID_OPTION',
      `"networkId" must be 1-${MAX_NETWORK_ID_BYTES} printable ASCII characters without spaces, got ${JSON.stringify(networkId)}`,
    )
  }
}

export function encodeHello(hello: Hello): Uint8Array {
  const net = Buffer.from(hello.networkId, 'ascii')
  const out = Buffer.alloc(HELLO_FIXED + net.length)
  let o = 0
  out[o++] = MESSAGE_TYPES.hello
  out.set(MAGIC, o)
  o += 4
  out[o++] = hello.version
  out[o++] = hello.rule
  out[o++] = hello.role === 'dialer' ? ROLE_DIALER : ROLE_LISTENER
  out.set(hello.publicKey, o)
  o += PUBLIC_KEY_BYTES
  out.writeBigUInt64BE(hello.incarnation, o)
  o += 8
  out.set(hello.nonce, o)
  o += NONCE_BYTES
  out.set(hello.ephemeralKey, o)
  o += EPHEMERAL_KEY_BYTES
  out[o++] = net.length
  out.set(net, o)
  return out
}

/** Decodes a HELLO body (type byte included). Version and rule are checked by the handshake. */
export function decodeHello(body: Uint8Array): Hello {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (b[0] !== MESSAGE_TYPES.hello) throw malformed(`expected HELLO (0x01), got type 0x${(b[0] ?? 0).toString(16)}`)
  if (b.length < HELLO_FIXED) throw malformed(`HELLO is ${b.length} bytes, shorter than ${HELLO_FIXED}`)
  if (!b.subarray(1, 5).equals(MAGIC)) throw malformed('HELLO magic is not "phse"')
  let o = 5
  const version = b[o++] as number
  const rule = b[o++] as number
  const roleByte = b[o++]
  if (roleByte !== ROLE_DIALER && roleByte !== ROLE_LISTENER) throw malformed(`HELLO role ${roleByte} is not 0 or 1`)
  const publicKey = new Uint8Array(b.subarray(o, o + PUBLIC_KEY_BYTES))
  o += PUBLIC_KEY_BYTES
  const incarnation = b.readBigUInt64BE(o)
  o += 8
  const nonce = new Uint8Array(b.subarray(o, o + NONCE_BYTES))
  o += NONCE_BYTES
  const ephemeralKey = new Uint8Array(b.subarray(o, o + EPHEMERAL_KEY_BYTES))
  o += EPHEMERAL_KEY_BYTES
  const netLength = b[o++] as number
  if (netLength < 1 || netLength > MAX_NETWORK_ID_BYTES)
    throw malformed(`HELLO network id length ${netLength} is not 1-64`)
  if (b.length !== o + netLength) throw malformed(`HELLO is ${b.length} bytes, expected ${o + netLength}`)
  const net = b.subarray(o, o + netLength)
  if (!net.every((c) => c >= 0x21 && c <= 0x7e)) throw malformed('HELLO network id is not printable ASCII (0x21-0x7e)')
  const networkId = net.toString('ascii')
  return {
    version,
    rule,
    role: roleByte === ROLE_DIALER ? 'dialer' : 'listener',
    publicKey,
    incarnation,
    nonce,
    ephemeralKey,
    networkId,
  }
}

export function encodeAuth(signature: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + SIGNATURE_BYTES)
  out[0] = MESSAGE_TYPES.auth
  out.set(signature, 1)
  return out
}

export function decodeAuth(body: Uint8Array): Uint8Array {
  if (body[0] !== MESSAGE_TYPES.auth) throw malformed(`expected AUTH (0x02), got type 0x${(body[0] ?? 0).toString(16)}`)
  if (body.length !== 1 + SIGNATURE_BYTES)
    throw malformed(`AUTH is ${body.length} bytes, expected ${1 + SIGNATURE_BYTES}`)
  return body.slice(1)
}

export function encodeClose(close: Close): Uint8Array {
  const out = Buffer.alloc(CLOSE_BYTES)
  out[0] = MESSAGE_TYPES.close
  out[1] = closeReasonCode(close.reason)
  if (close.winner !== undefined) {
    if (!/^[0-9a-f]{32}$/.test(close.winner)) {
      throw new PeerhouseError(
        'ERR_INVALID_OPTION',
        `CLOSE winner must be 32 lowercase hex digits, got ${JSON.stringify(close.winner)}`,
      )
    }
    out.write(close.winner, 2, SESSION_ID_BYTES, 'hex')
  }
  return out
}

export function decodeClose(body: Uint8Array): Close {
  if (body[0] !== MESSAGE_TYPES.close)
    throw malformed(`expected CLOSE (0x03), got type 0x${(body[0] ?? 0).toString(16)}`)
  if (body.length !== CLOSE_BYTES) throw malformed(`CLOSE is ${body.length} bytes, expected ${CLOSE_BYTES}`)
  const reason = closeReasonFromCode(body[1] as number) ?? 'protocol-error'
  const winnerBytes = Buffer.from(body.buffer, body.byteOffset + 2, SESSION_ID_BYTES)
  return winnerBytes.equals(ZERO_SESSION) ? { reason } : { reason, winner: winnerBytes.toString('hex') }
}
