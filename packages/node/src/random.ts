import { randomBytes } from 'node:crypto'

/**
 * The node's source of randomness: handshake nonces and ephemeral keys (`bytes`), and the jitter
 * of dial grace and re-dial backoff (`float`). The simulator passes a seeded one, so a run is a
 * function of its seed; a real node uses the OS's.
 */
export interface Random {
  bytes(n: number): Uint8Array
  /** Uniform in [0, 1). */
  float(): number
}

export const realRandom: Random = {
  bytes: (n) => randomBytes(n),
  float: () => Math.random(),
}
