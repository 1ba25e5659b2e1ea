import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AdmissionFacts, admissionVerdict } from '../src/admission.ts'

const base: AdmissionFacts = {
  twin: false,
  allowed: true,
  remoteIncarnation: 5n,
  usableIncarnations: [],
  connectionsOfPeer: 1,
  maxConnectionsPerPeer: 8,
  protected: false,
  otherSessions: 0,
  maxSessions: 2,
}

const reason = (f: AdmissionFacts) => {
  const v = admissionVerdict(f)
  return v.admit ? (v.evictStranger ? 'admit, evict a stranger' : 'admit') : v.reason
}

describe('admissionVerdict', () => {
  it('checks identity, then membership, then a copied key, then the per-peer bound, then capacity', () => {
    expect(reason(base)).toBe('admit')
    expect(reason({ ...base, twin: true, allowed: false })).toBe('identity-conflict')
    expect(reason({ ...base, allowed: false, usableIncarnations: [9n], otherSessions: 9 })).toBe('not-allowed')
    expect(reason({ ...base, usableIncarnations: [9n], otherSessions: 9 })).toBe('identity-conflict')
    expect(reason({ ...base, connectionsOfPeer: 9, otherSessions: 9 })).toBe('overloaded')
    expect(reason({ ...base, otherSessions: 2 })).toBe('overloaded')
  })

  it('a restart (higher or equal incarnation) is admitted', () => {
    expect(reason({ ...base, usableIncarnations: [4n] })).toBe('admit')
    expect(reason({ ...base, usableIncarnations: [5n] })).toBe('admit')
  })

  it('a second session with a known stranger is still under the cap (one id cannot hold 5,000 sessions)', () => {
    expect(reason({ ...base, usableIncarnations: [5n], otherSessions: 2 })).toBe('overloaded')
    expect(reason({ ...base, usableIncarnations: [5n], connectionsOfPeer: 9, protected: true })).toBe('overloaded')
  })

  it('a protected peer is never refused for capacity: it makes a stranger leave instead', () => {
    fc.assert(
      fc.property(fc.nat(5000), fc.integer({ min: 1, max: 5000 }), (others, max) => {
        const v = admissionVerdict({ ...base, protected: true, otherSessions: others, maxSessions: max })
        expect(v).toEqual({ admit: true, evictStranger: others >= max })
        const stranger = admissionVerdict({ ...base, otherSessions: others, maxSessions: max })
        expect(stranger.admit).toBe(others < max)
      }),
    )
  })
})
