import { it } from 'vitest'
import { sweep } from './sweep.ts'

// Seeds 151–200 of the small-scenario sweep (2–16 nodes, every fault kind): no invariant violated.
// Four files of 50 so that vitest runs them side by side.
it('holds every invariant for seeds 151–200', () => sweep(151, 200))
