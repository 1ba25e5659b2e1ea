import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DataDirLockError, LOCK_FILE_NAME, lockDataDir } from '../src/data-dir-lock.ts'

const dirs: string[] = []
const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'peerhouse-lock-'))
  dirs.push(d)
  return d
}

/** A process that runs until the test ends, with its /proc start time. */
async function liveProcess(): Promise<{ pid: number; start: string }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  children.push(child)
  await new Promise((resolve) => child.once('spawn', resolve))
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
  return { pid: child.pid as number, start: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string }
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid as number
}

function refusal(fn: () => unknown): DataDirLockError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(DataDirLockError)
    return e as DataDirLockError
  }
  throw new Error('expected a DataDirLockError')
}

describe.runIf(process.platform === 'linux')('data dir lock', () => {
  it('holds the dir for this process, refuses a second lock naming the pid, and is gone after release', () => {
    const dir = tmp()
    const lock = lockDataDir(join(dir, 'new'))
    const path = join(dir, 'new', LOCK_FILE_NAME)
    expect(lock.path).toBe(path)
    expect(readFileSync(path, 'utf8').split('\n')[0]).toBe(String(process.pid))
    const e = refusal(() => lockDataDir(join(dir, 'new')))
    expect(e.code).toBe('ERR_DATA_DIR_LOCKED')
    expect(e.holderPid).toBe(process.pid)
    expect(e.message).toBe(
      `data dir ${join(dir, 'new')} is in use by another peerhouse (pid ${process.pid}, lock file ${path})`,
    )
    lock.release()
    lock.release()
    expect(existsSync(path)).toBe(false)
    lockDataDir(join(dir, 'new')).release()
    expect(readdirSync(join(dir, 'new'))).toEqual([]) // no temporary files left behind
  })

  it('refuses a lock whose writer runs', async () => {
    const dir = tmp()
    const other = await liveProcess()
    writeFileSync(join(dir, LOCK_FILE_NAME), `${other.pid}\n${other.start}\n`)
    expect(refusal(() => lockDataDir(dir)).holderPid).toBe(other.pid)
    // Without a start time (an older lock), a live pid is enough.
    writeFileSync(join(dir, LOCK_FILE_NAME), `${other.pid}\n`)
    expect(refusal(() => lockDataDir(dir)).holderPid).toBe(other.pid)
  })

  it('takes over a stale lock: a dead pid, a reused pid, our own pid from an earlier life, or garbage', async () => {
    const dir = tmp()
    const other = await liveProcess()
    const path = join(dir, LOCK_FILE_NAME)
    for (const stale of [`${await deadPid()}\n\n`, `${other.pid}\n1\n`, `${process.pid}\n1\n`, '', 'garbage\n']) {
      writeFileSync(path, stale)
      const lock = lockDataDir(dir)
      expect(readFileSync(path, 'utf8').split('\n')[0]).toBe(String(process.pid))
      lock.release()
      expect(readdirSync(dir)).toEqual([])
    }
  })

  it('release leaves a lock that is no longer ours alone', () => {
    const dir = tmp()
    const lock = lockDataDir(dir)
    const path = join(dir, LOCK_FILE_NAME)
    writeFileSync(path, '1\n\n')
    lock.release()
    expect(readFileSync(path, 'utf8')).toBe('1\n\n')
  })
})
