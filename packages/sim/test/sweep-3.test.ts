import { it } from 'vitest'
import { sweep } from './sweep.ts'

// Seeds 101–150 of the small-scenario sweep (2–16 nodes, every fault kind): no invariant violated.
// Four files of 50 so that vitest runs them side by side.
it('holds every invariant for seeds 101–150', () => sweep(101, 150))
