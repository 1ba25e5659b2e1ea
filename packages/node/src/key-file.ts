import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { generateSecretKey, type Identity, identityFromSecretKey, PeerhouseError } from '@peerhouse/protocol'

export const KEY_FILE_NAME = 'node.key'
export const INCARNATION_FILE_NAME = 'incarnation'

function keyFileError(path: string, why: string, cause?: unknown): PeerhouseError {
  return new PeerhouseError('ERR_KEY_FILE', `key file ${path}: ${why}`, { cause })
}

export interface LoadIdentityOptions {
  /**
   * Create a key even though the folder's `incarnation` file shows that a node with another key
   * ran there: the node comes back under a new id. Without it, a missing key file in such a
   * folder is refused with ERR_KEY_FILE, since a deleted or lost key means a member silently
   * replaced by a stranger. @default false
   */
  allowNewIdentity?: boolean
}

/**
 * Loads the node's secp256k1 key from `path` (64 hex digits), creating it with mode 0600 on
 * first use. The same file gives the same node id across restarts.
 */
export function loadOrCreateIdentity(path: string, options: LoadIdentityOptions = {}): Identity {
  const ranBefore = join(dirname(path), INCARNATION_FILE_NAME)
  if (options.allowNewIdentity !== true && !existsSync(path) && existsSync(ranBefore)) {
    throw keyFileError(
      path,
      `missing, but ${ranBefore} shows a node ran in this folder; restore the key file to keep its id, ` +
        'or ask for a new identity (peerhouse --new-identity, or allowNewIdentity in NodeInit)',
    )
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  let fd: number | undefined
  try {
    // 'wx' fails if the file exists, so two processes racing on first start cannot both write.
    fd = openSync(path, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw keyFileError(path, 'cannot be created', error)
  }
  if (fd !== undefined) {
    const identity = identityFromSecretKey(generateSecretKey())
    try {
      writeFileSync(fd, `${Buffer.from(identity.secretKey).toString('hex')}\n`)
    } finally {
      closeSync(fd)
    }
    return identity
  }
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (error) {
    throw keyFileError(path, 'cannot be read', error)
  }
  if (!/^[0-9a-f]{64}$/i.test(text)) throw keyFileError(path, `expected 64 hex digits, found ${text.length} characters`)
  try {
    return identityFromSecretKey(new Uint8Array(Buffer.from(text, 'hex')))
  } catch (error) {
    throw keyFileError(path, (error as Error).message, error)
  }
}

/** True when group or others may read the key file (a copied or carelessly restored key). */
export function keyFileTooOpen(path: string): boolean {
  return (statSync(path).mode & 0o077) !== 0
}

let lastIncarnation = 0n

/**
 * A fresh incarnation (boot number): microseconds since the epoch, strictly above the last one
 * handed out in this process and, when `dataDir` is given, the last one persisted there — so a
 * restarted node always announces a larger number than its previous life, even if the clock steps back.
 */
export function nextIncarnation(dataDir?: string): bigint {
  const now = BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000))
  let next = now > lastIncarnation ? now : lastIncarnation + 1n
  if (dataDir !== undefined) {
    const file = join(dataDir, INCARNATION_FILE_NAME)
    let persisted = 0n
    try {
      persisted = BigInt(readFileSync(file, 'utf8').trim())
    } catch {
      // First start, or an unreadable file: the clock alone decides.
    }
    if (persisted >= next) next = persisted + 1n
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(file, `${next}\n`)
  }
  lastIncarnation = next
  return next
}
