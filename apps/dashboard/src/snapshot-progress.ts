/** What the page fetches after each (re)connect of the event stream: together, one snapshot. */
export type SnapshotPart = 'nodes' | 'topology'

const PARTS: readonly SnapshotPart[] = ['nodes', 'topology']

/**
 * Whether the page shows data fetched since the event stream last (re)connected. Until the first
 * snapshot the page knows nothing, so it must not say "live · 0 links · 0 missing": the counters
 * are unknown, not zero. The stream has no replay, so after a reconnect the data is stale again
 * until the re-read arrives.
 *
 * Each connect starts a round; a fetch counts only for the round it started in, so an answer to a
 * request sent before a reconnect (perhaps to the previous supervisor) does not end the loading.
 */
export class SnapshotProgress {
  #round = 0
  #pending = new Set<SnapshotPart>()
  #loadedOnce = false

  /** A new round: the stream (re)connected, every part is to be fetched again. */
  begin(): void {
    this.#round++
    this.#pending = new Set(PARTS)
  }

  /** The round a fetch starting now belongs to: pass it to `done` when the fetch succeeded. */
  get round(): number {
    return this.#round
  }

  done(part: SnapshotPart, round: number): void {
    if (round !== this.#round) return
    this.#pending.delete(part)
    if (this.#pending.size === 0 && this.#round > 0) this.#loadedOnce = true
  }

  /** The current round still misses a part. */
  get loading(): boolean {
    return this.#pending.size > 0
  }

  /** Some round was complete: the counters mean something (possibly stale after a reconnect). */
  get loadedOnce(): boolean {
    return this.#loadedOnce
  }
}
