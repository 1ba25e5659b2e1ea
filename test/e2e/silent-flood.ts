import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface FloodReport {
  /** Sockets connected right now (from the flooder's side: accepted or still in the listen backlog). */
  open: number
  /** Most sockets connected at once so far. */
  peak: number
  /** Connection attempts so far. */
  attempts: number
  done?: boolean
}

export interface FloodInit {
  readonly ports: readonly number[]
  /** Sockets held open at once, spread over the ports. */
  readonly sockets: number
  /** The flood stops by itself after this long. */
  readonly seconds: number
  /** ...or after this many connection attempts. */
  readonly maxAttempts: number
}

/**
 * The flooder: plain JS in its own process (its descriptors are not the test runner's). Every
 * socket connects to 127.0.0.1 and never sends a byte; when the peer closes it, it reconnects at
 * once, so the nodes always have as many silent strangers as they accept. A refused connect is
 * retried after 20 ms, so a stopped node is not spun on. Reports one JSON line every 200 ms.
 */
const SCRIPT = `
const net = require('node:net')
const { ports, sockets, seconds, maxAttempts } = JSON.parse(process.argv[1])
let open = 0, peak = 0, attempts = 0, stopping = false
const all = new Set()
function one(i) {
  if (stopping || attempts >= maxAttempts) return
  attempts++
  const s = net.connect({ host: '127.0.0.1', port: ports[i % ports.length] })
  all.add(s)
  let connected = false
  s.on('connect', () => { connected = true; open++; if (open > peak) peak = open })
  s.on('error', () => {})
  s.on('close', () => {
    all.delete(s)
    if (connected) open--
    if (connected) setImmediate(one, i)
    else setTimeout(one, 20, i)
  })
}
for (let i = 0; i < sockets; i++) one(i)
const report = (done) => process.stdout.write(JSON.stringify({ open, peak, attempts, done }) + '\\n')
const timer = setInterval(report, 200)
function end() {
  if (stopping) return
  stopping = true
  clearInterval(timer)
  for (const s of all) s.destroy()
  report(true)
  process.exit(0)
}
setTimeout(end, seconds * 1000)
process.on('SIGTERM', end)
`

/** A running flood; `next()` resolves with the next report, `stop()` with the last one. */
export class SilentFlood {
  readonly child: ChildProcess
  last: FloodReport = { open: 0, peak: 0, attempts: 0 }
  readonly #waiters: ((r: FloodReport) => void)[] = []
  readonly #ended: Promise<FloodReport>

  constructor(init: FloodInit) {
    this.child = spawn(process.execPath, ['-e', SCRIPT, JSON.stringify(init)], { stdio: ['ignore', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      this.last = JSON.parse(line) as FloodReport
      for (const w of this.#waiters.splice(0)) w(this.last)
    })
    this.#ended = new Promise((resolve) => this.child.once('exit', () => resolve(this.last)))
  }

  /** The next report; the last one if the flood has ended. */
  next(): Promise<FloodReport> {
    if (this.child.exitCode !== null) return Promise.resolve(this.last)
    return Promise.race([new Promise<FloodReport>((resolve) => this.#waiters.push(resolve)), this.#ended])
  }

  /** Resolves with the first report that satisfies `ok`, or the last one when the flood ends first. */
  async until(ok: (r: FloodReport) => boolean): Promise<FloodReport> {
    for (;;) {
      const r = await this.next()
      if (ok(r) || r.done || this.child.exitCode !== null) return r
    }
  }

  stop(): Promise<FloodReport> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM')
    return this.#ended
  }
}
