import { createHash, type Hash } from 'node:crypto'

interface Line {
  readonly at: number
  readonly text: string
  readonly nodes: readonly number[]
}

/**
 * Everything that happened in a run, in order: hashed as a whole (the same seed, scenario and
 * code give the same hash), and the last lines kept so that a violation can print the slice of
 * trace that shows it.
 */
export class Trace {
  readonly #hash: Hash = createHash('sha256')
  readonly #recent: Line[] = []
  readonly #keep: number
  lines = 0

  constructor(keep = 50_000) {
    this.#keep = keep
  }

  /** One line; `nodes` are the node indexes it concerns (for slicing). */
  add(at: number, text: string, nodes: readonly number[]): void {
    const line = `${at.toFixed(3)} ${text}`
    this.#hash.update(line)
    this.#hash.update('\n')
    this.lines++
    this.#recent.push({ at, text: line, nodes })
    if (this.#recent.length > this.#keep * 1.25) this.#recent.splice(0, this.#recent.length - this.#keep)
  }

  /** The hash of every line so far (first 16 hex digits). */
  digest(): string {
    return this.#hash.copy().digest('hex').slice(0, 16)
  }

  /**
   * The shortest story of a violation: the last `max` kept lines up to `until` that concern every
   * one of `nodes` (for a pair, what passed between the two), or any of them if those are few.
   */
  slice(nodes: readonly number[], until = Number.POSITIVE_INFINITY, max = 40): string[] {
    const all = this.#pick((l) => nodes.every((n) => l.nodes.includes(n)), until, max)
    return all.length >= 5 || nodes.length < 2
      ? all
      : this.#pick((l) => nodes.some((n) => l.nodes.includes(n)), until, max)
  }

  #pick(want: (l: Line) => boolean, until: number, max: number): string[] {
    const out: string[] = []
    for (let i = this.#recent.length - 1; i >= 0 && out.length < max; i--) {
      const l = this.#recent[i] as Line
      if (l.at <= until && want(l)) out.push(l.text)
    }
    return out.reverse()
  }
}
