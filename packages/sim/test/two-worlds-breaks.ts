/**
 * Deliberately broken dedup rules, for proving once that two-worlds.test.ts fails when one world
 * runs a rule the other does not (TWO_WORLDS_BREAK=own|early|byid puts one in the simulator only).
 * Never used by a passing run.
 */
import type { TestOnlyBreaks } from '@peerhouse/node'
import { type DedupCandidate, type DedupPlan, pickWinner, planDedup } from '@peerhouse/protocol'

/** Each side keeps its own outbound session (and closes the other's as a duplicate). */
const own = <T extends DedupCandidate>(s: readonly T[], local: string, remote: string): DedupPlan<T> => {
  if (s.length === 0) return { winner: undefined, close: [], waiting: [] }
  const mine = s.filter((x) => x.initiator === local)
  const winner = mine.length > 0 ? pickWinner(mine, local, remote) : pickWinner(s, local, remote)
  const losers = s.filter((x) => x !== winner)
  return winner.confirmed
    ? { winner, close: losers.map((session) => ({ session, reason: 'duplicate' as const })), waiting: [] }
    : { winner, close: [], waiting: losers }
}

/** The loser is closed before the winner is confirmed. */
const early = <T extends DedupCandidate>(s: readonly T[], local: string, remote: string): DedupPlan<T> =>
  planDedup(
    s.map((x) => ({ ...x, confirmed: true })),
    local,
    remote,
  ) as unknown as DedupPlan<T>

export function breakFromEnv(name = process.env.TWO_WORLDS_BREAK): TestOnlyBreaks | undefined {
  if (name === undefined || name === '') return undefined
  if (name === 'own') return { planDedup: own as never }
  if (name === 'early') return { planDedup: early as never }
  if (name === 'byid') return { removeByIdAlone: true }
  throw new Error(`TWO_WORLDS_BREAK must be own, early or byid, got ${JSON.stringify(name)}`)
}
