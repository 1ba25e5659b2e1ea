/**
 * Map from a node id to a set of objects (dials, connections). Entries are removed by
 * (id, object), never by id alone, so a late close of an old connection can never remove
 * its replacement — Fabric's FAB-17675 bug cannot happen here.
 */
const EMPTY: readonly never[] = []

export class IdSetMap<T> {
  readonly #map = new Map<string, Set<T>>()
  #count = 0

  add(id: string, value: T): void {
    let set = this.#map.get(id)
    if (set === undefined) {
      set = new Set()
      this.#map.set(id, set)
    }
    if (!set.has(value)) this.#count++
    set.add(value)
  }

  delete(id: string, value: T): boolean {
    const set = this.#map.get(id)
    if (set === undefined || !set.delete(value)) return false
    this.#count--
    if (set.size === 0) this.#map.delete(id)
    return true
  }

  /** Removes everything filed under `id` (test-only broken registries use it; the node never does). */
  deleteAll(id: string): void {
    const set = this.#map.get(id)
    if (set === undefined) return
    this.#count -= set.size
    this.#map.delete(id)
  }

  /** A copy of the values filed under `id`. */
  get(id: string): readonly T[] {
    const set = this.#map.get(id)
    return set === undefined ? [] : [...set]
  }

  /** The values filed under `id`, without a copy (hot paths): do not change the map meanwhile. */
  values(id: string): Iterable<T> {
    return this.#map.get(id) ?? EMPTY
  }

  /** How many values are filed under `id`. */
  sizeOf(id: string): number {
    return this.#map.get(id)?.size ?? 0
  }

  /** Values under all ids. */
  get count(): number {
    return this.#count
  }

  has(id: string): boolean {
    return this.#map.has(id)
  }

  ids(): IterableIterator<string> {
    return this.#map.keys()
  }
}
