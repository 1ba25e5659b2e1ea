import { FRAME_HEADER_BYTES } from './constants.ts'
import { PeerhouseError } from './errors.ts'

export interface Frame {
  /** The 4-byte length header, needed as AEAD associated data. */
  readonly header: Uint8Array
  readonly body: Uint8Array
}

/**
 * Splits a byte stream into length-prefixed frames. The length is checked against
 * `maxBody` as soon as its 4 bytes arrive, so an oversized frame is refused before
 * its body is buffered. Frames are pulled one at a time with `next()` so that the
 * consumer can raise `maxBody` between frames (the end of the handshake) even when
 * both arrive in one chunk.
 *
 * Bytes are appended to one buffer, so a frame trickled in many small chunks costs amortised
 * O(1) per byte: re-joining the partial frame on every chunk made a slow sender cost the receiver
 * O(n²) in copying. The buffer grows to at most twice what was received (never to the size a
 * header merely declares: 1,000 connections each declaring 1 MiB and sending 15 bytes would
 * otherwise reserve 1 GB), and a small leftover in a large buffer moves to a buffer of its own
 * (a 4 KiB tail must not keep a 2 MiB buffer alive). `held` is the memory kept, for the node's
 * budget. A chunk that arrives with nothing buffered is used as it is, without a copy. Frames are
 * views into the buffer; bytes handed out are never written again (a buffer is replaced, never
 * compacted in place), so a frame stays valid after later pushes.
 */
/** A buffer at least this large, at most a quarter full, is replaced by one the size of what is left. */
const COMPACT_FROM = 16 * 1024

export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0)
  /** Live bytes are #buf[#start, #end). */
  #start = 0
  #end = 0
  maxBody: number

  constructor(maxBody: number) {
    this.maxBody = maxBody
  }

  /** Bytes buffered but not yet returned as a frame. */
  get buffered(): number {
    return this.#end - this.#start
  }

  /** Bytes of memory the decoder keeps for what is buffered (0 when nothing is). */
  get held(): number {
    return this.#end === this.#start ? 0 : this.#buf.length
  }

  /** Takes ownership of `chunk` without copying when nothing is buffered: the caller must not reuse its memory. */
  push(chunk: Uint8Array): void {
    const n = chunk.byteLength
    if (n === 0) return
    if (this.#end === this.#start) {
      this.#buf = Buffer.from(chunk.buffer, chunk.byteOffset, n)
      this.#start = 0
      this.#end = n
      return
    }
    if (this.#end + n > this.#buf.length) {
      // No room after the live bytes (always so while the buffer is a caller's chunk). While the
      // frame in progress is larger than what is here, double (amortised O(1) per byte), but never
      // past that frame; otherwise exactly what is needed (the chunk completes the frame).
      const live = this.#end - this.#start
      const need = live + n
      const frame = live >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + this.#buf.readUInt32BE(this.#start) : 0
      const size = frame > need ? Math.min(frame, FRAME_HEADER_BYTES + this.maxBody, Math.max(2 * need, 4096)) : need
      this.#moveTo(Buffer.allocUnsafe(Math.max(need, size)))
    }
    this.#buf.set(chunk, this.#end)
    this.#end += n
  }

  /** The next complete frame, or undefined; throws a PeerhouseError on a bad length. */
  next(): Frame | undefined {
    const available = this.#end - this.#start
    if (available < FRAME_HEADER_BYTES) return this.#waiting()
    const length = this.#buf.readUInt32BE(this.#start)
    if (length === 0) throw new PeerhouseError('ERR_MALFORMED_FRAME', 'frame length 0 is not allowed')
    if (length > this.maxBody) {
      throw new PeerhouseError('ERR_FRAME_TOO_LARGE', `frame length ${length} exceeds the maximum ${this.maxBody}`)
    }
    if (available < FRAME_HEADER_BYTES + length) return this.#waiting()
    const buf = this.#buf
    const at = this.#start
    this.#start += FRAME_HEADER_BYTES + length
    if (this.#start === this.#end) {
      // Drained: the next chunk starts a new buffer; this one lives only as long as its frames.
      this.#buf = Buffer.alloc(0)
      this.#start = 0
      this.#end = 0
    }
    return {
      header: buf.subarray(at, at + FRAME_HEADER_BYTES),
      body: buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length),
    }
  }

  /** No complete frame: a small leftover in a large buffer moves to one of its own. */
  #waiting(): undefined {
    const live = this.#end - this.#start
    if (live > 0 && this.#buf.length >= COMPACT_FROM && live <= this.#buf.length / 4) {
      this.#moveTo(Buffer.allocUnsafe(live))
    }
    return undefined
  }

  #moveTo(grown: Buffer): void {
    const live = this.#end - this.#start
    this.#buf.copy(grown, 0, this.#start, this.#end)
    this.#buf = grown
    this.#start = 0
    this.#end = live
  }
}

export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header.writeUInt32BE(length, 0)
  return header
}

export function encodeFrame(body: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(body.length), body])
}
