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
 * Bytes are appended to one buffer that grows by doubling, so a frame trickled in many small chunks
 * costs amortised O(1) per byte: re-joining the partial frame on every chunk made a slow sender
 * cost the receiver O(n²) in copying. A chunk that arrives with nothing buffered is used as it is,
 * without a copy. Frames are views into the buffer; bytes handed out are never written again
 * (the buffer is replaced, not compacted), so a frame stays valid after later pushes.
 */
/** Below this a chunk is a trickle: the buffer then grows by doubling. */
const SMALL_CHUNK = 4096

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
      // No room after the live bytes (always so while the buffer is a caller's chunk): a new buffer,
      // sized for the whole frame in progress when its header is in (one allocation for a large
      // frame, however it is trickled). Otherwise exactly what is needed after a socket-sized
      // chunk (as a plain join would), and doubled after a small one, so a trickle of tiny chunks
      // costs amortised O(1) per byte instead of a copy of everything per chunk.
      const live = this.#end - this.#start
      const need = live + n
      const frame = live >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + this.#buf.readUInt32BE(this.#start) : 0
      const target =
        frame > need ? Math.min(frame, FRAME_HEADER_BYTES + this.maxBody) : n >= SMALL_CHUNK ? need : 2 * need
      const grown = Buffer.allocUnsafe(Math.max(need, target))
      this.#buf.copy(grown, 0, this.#start, this.#end)
      this.#buf = grown
      this.#start = 0
      this.#end = live
    }
    this.#buf.set(chunk, this.#end)
    this.#end += n
  }

  /** The next complete frame, or undefined; throws a PeerhouseError on a bad length. */
  next(): Frame | undefined {
    const available = this.#end - this.#start
    if (available < FRAME_HEADER_BYTES) return undefined
    const length = this.#buf.readUInt32BE(this.#start)
    if (length === 0) throw new PeerhouseError('ERR_MALFORMED_FRAME', 'frame length 0 is not allowed')
    if (length > this.maxBody) {
      throw new PeerhouseError('ERR_FRAME_TOO_LARGE', `frame length ${length} exceeds the maximum ${this.maxBody}`)
    }
    if (available < FRAME_HEADER_BYTES + length) return undefined
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
}

export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header.writeUInt32BE(length, 0)
  return header
}

export function encodeFrame(body: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(body.length), body])
}
