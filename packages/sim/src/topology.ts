import type { Rng } from './rng.ts'

/** Which simulated nodes keep each other as configured peers. */
export type SimTopology = { kind: 'full-mesh' } | { kind: 'ring' } | { kind: 'random'; k: number }

export function parseTopology(text: string): SimTopology {
  if (text === 'full-mesh' || text === 'ring') return { kind: text }
  const m = /^random:([1-9][0-9]*)$/.exec(text)
  if (m?.[1]) return { kind: 'random', k: Number(m[1]) }
  throw new Error(`topology must be full-mesh, ring or random:K, got ${JSON.stringify(text)}`)
}

export function formatTopology(t: SimTopology): string {
  return t.kind === 'random' ? `random:${t.k}` : t.kind
}

/**
 * Unordered pairs [i, j], i < j. random:K: each node picks K others (so every node has at least
 * min(K, N-1) links), drawn from the run's seed, as the supervisor's random:K does from its own.
 */
export function pairsOf(n: number, t: SimTopology, rng: Rng): [number, number][] {
  const seen = new Set<number>()
  const out: [number, number][] = []
  const add = (i: number, j: number) => {
    if (i === j) return
    const [a, b] = i < j ? [i, j] : [j, i]
    const key = a * n + b
    if (seen.has(key)) return
    seen.add(key)
    out.push([a, b])
  }
  if (t.kind === 'full-mesh') {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) add(i, j)
  } else if (t.kind === 'ring') {
    if (n > 1) for (let i = 0; i < n; i++) add(i, (i + 1) % n)
  } else {
    const k = Math.min(t.k, n - 1)
    for (let i = 0; i < n; i++) {
      const picked = new Set<number>()
      while (picked.size < k) {
        const j = rng.int(n - 1)
        picked.add(j >= i ? j + 1 : j)
      }
      for (const j of picked) add(i, j)
    }
  }
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1])
}
