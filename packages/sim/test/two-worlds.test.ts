/**
 * The two worlds agree (issue 10): the 16-node storm and the restart scenario give the same outcome
 * in the simulator as over real sockets, for the same ids.
 *
 * Both worlds run the same Node class with the same 16 keys and the same options, through the same
 * steps (two-worlds-harness.ts): a storm (all 16 listening, each then configured with every other,
 * all dialing at once), then a crash of one node and a graceful stop of another, each restarted
 * with its key (a new incarnation) at its address. After each step, once settled:
 *
 * What is compared, per pair of the full mesh (`outcome()`): exactly one session at each end, open
 * at both, with the same session id at both, and which node dialed it (the surviving initiator);
 * after a restart, also that the restarted node's pairs hold a session with its new life at both
 * ends and that every other pair kept its session untouched. And, over every life of every node:
 * no identity alarm, no dedup disagreement. Not compared: session ids (they hash the handshake's
 * nonces), timings, counts of dials, duplicates or screened handshakes (timing decides those).
 *
 * Why that outcome is a function of the ids and the scenario, not of timing, over real sockets too
 * (PROTOCOL.md §8.1, §8.6, §8.8, §10.2); `expected()` computes it and both worlds must equal it:
 * - SCREENED, the node as shipped (HELLO screen on) with a 5 s dial grace: the smaller id dials at
 *   once (after a loss: its re-dial backoff, 0.05–3 s), the larger id holds back 2.5–5 s and then
 *   skips its dial, as the smaller id's session is up; if it were not, the screen refuses the
 *   larger id's handshake, or both complete and rule 1 keeps the smaller id's. So every pair's
 *   session is its smaller id's, at the storm and after each restart. (With the default 1 s grace
 *   a restarted larger id's dial could beat a smaller peer's backoff on a loaded machine.)
 * - RULE_ALONE, no grace and no screen (the simulator's `simultaneous`): at the storm every node's
 *   dials are issued in one synchronous batch before any connection event runs, and a dial is
 *   skipped only if a session exists when it is issued or when its TCP connect completes (§8.6
 *   302/304, 310), which on loopback is events before any handshake (≥ 2 more round trips) can
 *   finish. So both handshakes of every pair complete, and rule 1 alone keeps the smaller id's. At
 *   a restart the restarted node dials every peer at once and its peers re-dial only after 5–10 s,
 *   by when they find its session and skip: each of its pairs' session is then the restarted node's.
 * Deadlines (20 s handshakes) and keepalive (60 s) are far beyond any wait, so no outcome comes
 * from a timeout.
 *
 * No sleeps: the real world waits on node events, bounded by a 15 s deadline that only catches
 * hangs; the simulator runs virtual time until the same condition holds, at two seeds.
 *
 * Proof that it can fail: TWO_WORLDS_BREAK=own|early|byid puts one broken rule (two-worlds-breaks.ts)
 * in the simulator only. `own` (each side keeps its own outbound session): the RULE_ALONE outcome
 * differs from the real one (about half the pairs' initiators). `byid` (registry entries removed
 * by id alone): the simulator never settles (two usable sessions per pair). `early` (the loser
 * closed before the winner is confirmed): the outcome still agrees (the same session survives),
 * and only the simulator's own invariants catch it (zero-sessions). SCREENED catches none of them:
 * there the larger id never dials, so no pair ever holds two sessions for a rule to get wrong.
 */
import type { NodeInit } from '@peerhouse/node'
import { afterEach, describe, expect, it } from 'vitest'
import { breakFromEnv } from './two-worlds-breaks.ts'
import {
  alarms,
  byRank,
  outcome,
  RealWorld,
  RULE_ALONE,
  report,
  SCREENED,
  SimWorld,
  sessionIds,
  settled,
  smallerIds,
  statsLine,
  type TwoWorlds,
} from './two-worlds-harness.ts'

/** Two schedules of the simulator (latencies, jitter, every random draw): the outcome must not depend on which. */
const SEEDS = [10, 11]
const BREAK = breakFromEnv()
/** Victims with smaller and larger peers alike: the 9th and the 4th smallest id. */
const STEPS = [
  { phase: 'crash', victim: byRank(8) },
  { phase: 'stop', victim: byRank(3) },
] as const

type Phases = Record<string, Record<string, string>>

const opened: TwoWorlds[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((w) => w.close()))
})

async function converge(w: TwoWorlds): Promise<void> {
  await w.until(
    () => settled(w.nodes()),
    () => report(w.nodes()),
  )
}

/** The storm, then each step of STEPS: the outcome after each. */
async function scenario(w: TwoWorlds): Promise<Phases> {
  opened.push(w)
  const t0 = performance.now()
  await w.storm()
  await converge(w)
  const phases: Phases = { storm: outcome(w.nodes()) }
  for (const { phase, victim } of STEPS) {
    const before = sessionIds(w.nodes())
    if (phase === 'crash') await w.crash(victim)
    else await w.stop(victim)
    await w.restart(victim)
    await converge(w)
    phases[`${phase} and restart of node ${victim}`] = outcome(w.nodes(), { victim, before })
  }
  phases.alarms = alarms(w)
  const simMs = w instanceof SimWorld ? `, ${w.world.now.toFixed(0)} ms simulated` : ''
  console.info(`${w.name}: ${(performance.now() - t0).toFixed(0)} ms wall${simMs}; ${statsLine(w.lives())}`)
  return phases
}

/** The outcome of `scenario()` as a function of the ids: whose session each pair keeps (see the top). */
function expected(restartedNodeWins: boolean): Phases {
  const by = smallerIds()
  const phases: Phases = { storm: Object.fromEntries([...by].map(([pair, k]) => [pair, `by ${k}`])) }
  for (const { phase, victim } of STEPS) {
    const now: Record<string, string> = {}
    for (const [pair, small] of smallerIds()) {
      const mine = pair.split('-').map(Number).includes(victim)
      if (mine) by.set(pair, restartedNodeWins ? victim : small)
      now[pair] = `by ${by.get(pair)}, ${mine ? 'new life' : 'kept'}`
    }
    phases[`${phase} and restart of node ${victim}`] = now
  }
  phases.alarms = {}
  return phases
}

/** The scenario over real sockets, then in the simulator at each seed: each outcome must equal the real one. */
async function bothWorlds(options: Partial<NodeInit>, restartedNodeWins: boolean): Promise<void> {
  const real = await scenario(new RealWorld(options))
  for (const seed of SEEDS) {
    const sim = new SimWorld(options, seed, BREAK)
    const simulated = await scenario(sim)
    expect(simulated, `the ${sim.name} against real sockets`).toEqual(real)
    expect(sim.invariants.violations, `the ${sim.name}'s invariants`).toEqual([])
  }
  // Why the two agree: the outcome is a function of the ids and the scenario alone.
  expect(real, 'both worlds against the rule').toEqual(expected(restartedNodeWins))
}

describe('the two worlds agree: 16 nodes, the same keys, the same Node, over simulated links and real sockets', () => {
  it('the dedup rule alone (no grace, no screen): storm, crash and restart, stop and restart', async () => {
    await bothWorlds(RULE_ALONE, true)
  })

  it('as shipped, the HELLO screen on (5 s grace): storm, crash and restart, stop and restart', async () => {
    await bothWorlds(SCREENED, false)
  })
})
