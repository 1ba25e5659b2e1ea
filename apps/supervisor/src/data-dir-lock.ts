import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const LOCK_FILE_NAME = 'peerhouse.lock'

/** Another live process holds the data dir. */
export class DataDirLockError extends Error {
  override name = 'DataDirLockError'
  readonly code = 'ERR_DATA_DIR_LOCKED'
  readonly holderPid: number

  constructor(dataDir: string, lockFile: string, holderPid: number) {
    super(`data dir ${dataDir} is in use by another peerhouse (pid ${holderPid}, lock file ${lockFile})`)
    this.holderPid = holderPid
  }
}

/** When the kernel started `pid` (clock ticks since boot, /proc/<pid>/stat field 22), or null off Linux. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (the command) may hold spaces and parentheses; the fields after its last ')' do not.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

interface Holder {
  readonly pid: number
  readonly startTime: string | null
}

/** "<pid>\n<start time>\n"; null for anything else (a torn or foreign file). */
function parseLock(text: string): Holder | null {
  const [pid, start] = text.split('\n')
  if (pid === undefined || !/^[1-9][0-9]{0,9}$/.test(pid)) return null
  return { pid: Number(pid), startTime: start !== undefined && /^[0-9]+$/.test(start) ? start : null }
}

/**
 * Whether the lock's writer still runs. A pid that is gone, or that now belongs to a process
 * started at another time (the pid was reused, e.g. pid 1 in every container run), is stale.
 */
function alive(holder: Holder): boolean {
  if (holder.pid === process.pid) return held.has(holder.pid) && holder.startTime === startTime(process.pid)
  try {
    process.kill(holder.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false // ESRCH: no such process
  }
  const now = startTime(holder.pid)
  return holder.startTime === null || now === null || now === holder.startTime
}

/** Pids of this process that hold a lock (at most ours): a second lock from the same process is refused too. */
const held = new Set<number>()

export interface DataDirLock {
  readonly path: string
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void
}

/**
 * Takes `<dataDir>/peerhouse.lock` for this process, so two supervisors never run the same node
 * ids. The file is written under a temporary name and hard-linked into place, which fails if a
 * lock exists (an atomic O_EXCL create whose file is never seen half-written). A lock whose
 * writer is gone is stale and taken over. Throws DataDirLockError naming the live holder.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, LOCK_FILE_NAME)
  const me = `${process.pid}\n${startTime(process.pid) ?? ''}\n`
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, me, { mode: 0o644 })
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err
      }
      takeOverIfStale(dataDir, path)
    }
  } finally {
    unlinkSync(tmp)
  }
  held.add(process.pid)
  let released = false
  return {
    path,
    release() {
      if (released) return
      released = true
      held.delete(process.pid)
      try {
        if (readFileSync(path, 'utf8') === me) unlinkSync(path)
      } catch {
        // Already gone.
      }
    },
  }
}

/**
 * Moves a stale lock out of the way; throws if the holder is alive. The lock is renamed (one
 * process wins the rename) and checked again after the move: had a live supervisor taken it
 * over meanwhile, it is put back and that one is the holder.
 */
function takeOverIfStale(dataDir: string, path: string): void {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return // gone meanwhile: try again
  }
  const holder = parseLock(text)
  if (holder !== null && alive(holder)) throw new DataDirLockError(dataDir, path, holder.pid)
  const aside = `${path}.${process.pid}.stale`
  try {
    renameSync(path, aside)
  } catch {
    return // someone else moved it first: try again
  }
  const moved = readFileSync(aside, 'utf8')
  if (moved !== text) {
    const live = parseLock(moved)
    try {
      linkSync(aside, path)
    } catch {
      // A third process locked meanwhile; it is the holder now.
    }
    unlinkSync(aside)
    if (live !== null) throw new DataDirLockError(dataDir, path, live.pid)
    return
  }
  unlinkSync(aside)
}
