import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The shape of the code, checked: dependencies point one way (supervisor → node → protocol,
// sim → node → protocol), and the node core touches no socket, timer, clock or OS randomness
// itself: only its edge modules do, behind the Transport, Clock and Random interfaces.

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function sources(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(rel))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

/** Module specifiers a file imports or re-exports (type-only imports included). */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1] as string)
}

const PACKAGES: Record<string, { dir: string; may: string[] }> = {
  '@peerhouse/protocol': { dir: 'packages/protocol/src', may: [] },
  '@peerhouse/node': { dir: 'packages/node/src', may: ['@peerhouse/protocol'] },
  '@peerhouse/sim': { dir: 'packages/sim/src', may: ['@peerhouse/node', '@peerhouse/protocol'] },
  '@peerhouse/supervisor': { dir: 'apps/supervisor/src', may: ['@peerhouse/node', '@peerhouse/protocol'] },
}

describe('architecture', () => {
  for (const [name, { dir, may }] of Object.entries(PACKAGES)) {
    it(`${name} imports only ${may.length === 0 ? 'no other package' : may.join(', ')}`, () => {
      const bad: string[] = []
      for (const file of sources(dir)) {
        for (const spec of imports(file)) {
          const pkg = /^@peerhouse\/[^/]+/.exec(spec)?.[0]
          if (pkg !== undefined && pkg !== name && !may.includes(pkg)) bad.push(`${file} → ${spec}`)
        }
      }
      expect(bad).toEqual([])
    })
  }

  it('the node core reaches sockets, timers, clocks and OS randomness only through its edge modules', () => {
    // The edges: the real Transport, Clock and Random, and the key file on disk.
    const EDGES = new Set(['net-transport.ts', 'clock.ts', 'random.ts', 'key-file.ts'])
    const FORBIDDEN: [RegExp, string][] = [
      [/from\s+['"]node:(net|dgram|tls|http|https|crypto|fs|timers|worker_threads|child_process)['"]/, 'I/O module'],
      [
        /(?<![.\w#])(setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval)\s*\(/,
        'global timer',
      ],
      [/\bDate\.now\s*\(|\bnew Date\s*\(\s*\)|\bperformance\.now\s*\(/, 'wall clock'],
      [/\bMath\.random\s*\(|\bcrypto\.getRandomValues\b|\brandomBytes\s*\(/, 'OS randomness'],
    ]
    const bad: string[] = []
    for (const file of sources('packages/node/src')) {
      if (EDGES.has(file.split('/').at(-1) as string)) continue
      const code = readFileSync(join(ROOT, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
      for (const [re, what] of FORBIDDEN) if (re.test(code)) bad.push(`${file}: ${what} (${re.exec(code)?.[0]})`)
    }
    expect(bad).toEqual([])
  })
})
