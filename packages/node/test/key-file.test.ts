import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateIdentity, Node, nextIncarnation } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'peerhouse-key-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('key file', () => {
  it('is created with mode 0600 on first use and gives the same node id after', () => {
    const file = join(tmp(), 'nested', 'node.key')
    const first = loadOrCreateIdentity(file)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(loadOrCreateIdentity(file).nodeId).toBe(first.nodeId)
  })

  it('rejects a corrupt key file with ERR_KEY_FILE naming the file', () => {
    const file = join(tmp(), 'node.key')
    writeFileSync(file, 'not a key')
    expect(() => loadOrCreateIdentity(file)).toThrow(expect.objectContaining({ code: 'ERR_KEY_FILE' }))
    expect(() => loadOrCreateIdentity(file)).toThrow(file)
    writeFileSync(file, '00'.repeat(32))
    expect(() => loadOrCreateIdentity(file)).toThrow(/not a valid secp256k1 scalar/)
  })

  it('a node keeps its id across restarts from the same data dir, with a larger incarnation', async () => {
    const dir = tmp()
    const a = new Node({ dataDir: dir })
    const b = new Node({ dataDir: dir })
    expect(b.nodeId).toBe(a.nodeId)
    expect(b.incarnation).toBeGreaterThan(a.incarnation)
  })

  it('refuses a deleted key file next to an incarnation file (the node ran before) unless asked for a new identity', () => {
    const dir = tmp()
    const file = join(dir, 'node.key')
    const old = loadOrCreateIdentity(file)
    nextIncarnation(dir) // the node ran once
    unlinkSync(file)
    const refused = (() => {
      try {
        loadOrCreateIdentity(file)
      } catch (e) {
        return e as { code?: string; message: string }
      }
      return null
    })()
    expect(refused?.code).toBe('ERR_KEY_FILE')
    expect(refused?.message).toContain(file)
    expect(refused?.message).toContain(join(dir, 'incarnation'))
    expect(existsSync(file)).toBe(false) // nothing was created
    // A Node built on that folder refuses too, before it writes a new incarnation.
    expect(() => new Node({ dataDir: dir })).toThrow(expect.objectContaining({ code: 'ERR_KEY_FILE' }))

    const fresh = loadOrCreateIdentity(file, { allowNewIdentity: true })
    expect(fresh.nodeId).not.toBe(old.nodeId)
    expect(loadOrCreateIdentity(file).nodeId).toBe(fresh.nodeId) // and it is kept from then on
  })

  it('creates a key in a fresh folder, or one with no incarnation file, without being asked', () => {
    const dir = tmp()
    expect(loadOrCreateIdentity(join(dir, 'a', 'node.key')).nodeId).toMatch(/^[0-9a-f]{64}$/)
    writeFileSync(join(dir, 'other-file'), 'x')
    expect(loadOrCreateIdentity(join(dir, 'node.key')).nodeId).toMatch(/^[0-9a-f]{64}$/)
  })

  it('incarnations only grow, even when the persisted one is ahead of the clock', () => {
    const dir = tmp()
    const future = BigInt(Date.now()) * 1000n + 10_000_000_000n
    writeFileSync(join(dir, 'incarnation'), `${future}\n`)
    expect(nextIncarnation(dir)).toBe(future + 1n)
    expect(nextIncarnation(dir)).toBe(future + 2n)
  })
})
