import type { CloseReason } from '@peerhouse/protocol'
import type { ConnectionState, Direction } from './connection.ts'

/** One row of `node.sessions()`: JSON-safe, the shape the admin API serves. */
export interface SessionRow {
  readonly sessionId: string
  readonly remoteNodeId: string
  readonly remoteAddress: string
  readonly localAddress: string
  readonly direction: Direction
  /** Node id of the side that dialed. */
  readonly initiator: string
  readonly state: Exclude<ConnectionState, 'handshake'>
  /** ISO 8601 time the handshake completed. */
  readonly openedAt: string
  readonly rttMs: number | null
  readonly bytesIn: number
  readonly bytesOut: number
  readonly messagesIn: number
  readonly messagesOut: number
  /** The remote node's boot number, decimal (u64 does not fit a JSON number). */
  readonly remoteIncarnation: string
  /** Bytes written for the peer and not yet taken by the kernel: a peer that does not read shows here. */
  readonly queuedBytes: number
}

export interface NodeStats {
  dials: number
  dialFailures: number
  dialsSkipped: number
  accepts: number
  handshakesOk: number
  handshakesFailed: Partial<Record<CloseReason, number>>
  duplicatesClosed: number
  staleClosed: number
  selfConnects: number
  /** Peers refused after the key proof because they are not on the allowlist. */
  notAllowed: number
  /**
   * Identity conflicts this node trusts: a peer proved this node's own key (a second process holds
   * it); a configured or allowlisted peer proved its key with a lower incarnation than a live
   * session of that id (a copied key); or a configured or allowlisted peer refused this node as
   * the copy. Each is an `identity:conflict` event (at most one per id per 10 s).
   */
  identityConflicts: number
  /**
   * Identity-conflict claims that raise no alarm: a plaintext CLOSE `identity-conflict` (anyone can
   * forge it), a stranger's report that this node is a copy, or a stranger's own key proved twice.
   */
  identityClaimsIgnored: number
  /** Inbound connections not yet past the key proof, evicted (oldest first) at the handshake cap. */
  handshakesEvicted: number
  /** Handshakes ended right after HELLO, unsigned, because the session the rule keeps already existed or was on its way. */
  duplicatesAvoided: number
  /** Strangers refused at the session cap (`overloaded`). */
  sessionsRefused: number
  /** Stranger sessions closed (`overloaded`) to make room for a configured or allowlisted peer or our own dial. */
  sessionsEvicted: number
  /** Proven connections refused because their node id already held maxConnectionsPerPeer connections. */
  peerLimitRefused: number
  /** Sessions closed `slow-reader`: the peer stopped reading what we queued for it. */
  slowReaders: number
  /** CLOSE `duplicate` naming a winner that is alive here while our rule prefers another; stays 0 unless the rule diverged. */
  dedupDisagreements: number
  messagesIn: number
  messagesOut: number
}

export interface SessionCloseEvent {
  readonly session: SessionRow
  readonly reason: CloseReason
  readonly byPeer: boolean
  readonly winner?: string
}

export interface DuplicateEvent {
  readonly sessionId: string
  readonly remoteNodeId: string
  readonly winner: string
  readonly byPeer: boolean
}

export interface HandshakeErrorEvent {
  readonly reason: CloseReason
  readonly direction: Direction
  readonly remoteAddress: string
  /** The peer's id when it is known: proven by its AUTH, or the id we dialed. */
  readonly remoteNodeId?: string
  /** The id an inbound HELLO named, when the handshake ended before the key proof: a claim, not an identity. */
  readonly claimedNodeId?: string
  readonly byPeer: boolean
  readonly message?: string
}

export interface MessageEvent {
  readonly from: string
  readonly sessionId: string
  readonly data: Uint8Array
}

export interface IdentityConflictEvent {
  /** The node id claimed by two processes. */
  readonly nodeId: string
  /** Incarnations seen for it; the lower one was refused. */
  readonly incarnations: readonly string[]
  /** True when a peer told us that we are the conflicting copy. */
  readonly byPeer: boolean
  /** With byPeer: the proven id of the peer that told us (a member's word, attributable). */
  readonly reportedBy?: string
  readonly remoteAddress: string
}

/** What addPeers did with each address: none is lost silently. */
export interface AddPeersResult {
  /** Node ids now kept connected. */
  readonly added: readonly string[]
  /** Entries not added, each with why: this node's own id, or an address that does not parse. */
  readonly skipped: readonly {
    readonly address: string
    readonly reason: 'self' | 'invalid'
    readonly message: string
  }[]
}

export interface NodeEvents {
  listening: [{ host: string; port: number }]
  'session:open': [SessionRow]
  'session:close': [SessionCloseEvent]
  'session:duplicate': [DuplicateEvent]
  'handshake:error': [HandshakeErrorEvent]
  message: [MessageEvent]
  'identity:conflict': [IdentityConflictEvent]
}

/** The subset of pino's API a Node uses; pass `pino()` or anything shaped like it. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}
