import type { NodeStats, SessionRow } from '@peerhouse/node'
import type { AllowlistView, NodeStatus, SupervisorEvent } from './contract.ts'

/** The wire shapes (zod schemas) are in contract.ts; their types are here too, for the API's users. */
export type { AllowlistView, NodeStatus, SupervisorEvent, SupervisorEventType } from './contract.ts'

/** One row of GET /nodes. */
export interface NodeSummary {
  readonly index: number
  readonly nodeId: string
  readonly host: string
  readonly port: number
  readonly status: NodeStatus
  /** Live sessions (established or open) at the last report from the worker. */
  readonly sessions: number
  /** Times the worker was restarted after a crash or an exit it did not ask for. */
  readonly restarts: number
  /** The running node's incarnation (decimal), null while not running. */
  readonly incarnation: string | null
}

export interface NodeDetail extends NodeSummary {
  /** Identity conflicts (same node id running twice) the node reported, over all its restarts. */
  readonly identityConflicts: number
  readonly stats: NodeStats | null
}

export interface SessionWithLocal extends SessionRow {
  readonly localNodeId: string
}

export interface TopologyLink {
  /** Node ids of both ends, a < b. */
  readonly a: string
  readonly b: string
  readonly sessionId: string
}

export interface TopologyReport {
  /** Node ids known to this supervisor: its own nodes and the configured external peers. */
  readonly nodes: readonly string[]
  /** Pairs with exactly one session whose id both local ends agree on (one local end suffices for an external peer). */
  readonly links: readonly TopologyLink[]
  /** Pairs with more than one live session at some end. */
  readonly duplicates: readonly { a: string; b: string; sessionIds: string[] }[]
  /** Pairs of two local nodes whose ends name different sessions, or where only one end has one. */
  readonly asymmetric: readonly { a: string; b: string; atA: string | null; atB: string | null }[]
  /** Configured pairs (topology + --peers) with no session. */
  readonly missing: readonly { a: string; b: string }[]
}

export interface Readiness {
  /** All of the below are empty and the process has descriptors to spare. */
  readonly ready: boolean
  /** Nodes not in status running. */
  readonly notRunning: readonly number[]
  readonly missing: TopologyReport['missing']
  /** Pairs whose two local ends name different sessions (transient during dedup). */
  readonly asymmetric: TopologyReport['asymmetric']
  readonly duplicates: TopologyReport['duplicates']
  /**
   * Descriptors this process has open and its soft limit (null: unknown, or unlimited). Not
   * ready when fewer than the admin API's reserve (128) are left: new peers and requests would fail.
   * Always set by Supervisor; optional for other implementations of the API (test stubs).
   */
  readonly descriptors?: { readonly open: number | null; readonly limit: number | null }
}

export type SupervisorErrorCode =
  | 'ERR_UNKNOWN_NODE'
  | 'ERR_UNKNOWN_SESSION'
  | 'ERR_CONFLICT'
  | 'ERR_NODE_DOWN'
  | 'ERR_TIMEOUT'
  | 'ERR_NODE'
  | 'ERR_ALLOWLIST_INVALID'

/** Errors the admin API maps to HTTP: unknown → 404, conflict / bad allowlist file → 409, node down / timeout → 503. */
export class SupervisorError extends Error {
  override name = 'SupervisorError'
  readonly code: SupervisorErrorCode
  /** For ERR_NODE: the node's own PeerhouseError code (e.g. ERR_INVALID_ADDRESS). */
  readonly nodeCode?: string
  /** For ERR_NODE from a dial: how it ended, as a close reason (`wrong-node`, `not-allowed`, …). */
  readonly nodeReason?: string

  constructor(code: SupervisorErrorCode, message: string, nodeCode?: string, nodeReason?: string) {
    super(message)
    this.code = code
    this.nodeCode = nodeCode
    this.nodeReason = nodeReason
  }
}

/** What the admin API needs from the supervisor. Implemented by Supervisor. */
export interface SupervisorApi {
  nodes(): NodeSummary[]
  /** Resolves `:ref` (decimal index or 64-hex node id) to an index; throws ERR_UNKNOWN_NODE. */
  resolveRef(ref: string): number
  node(index: number): Promise<NodeDetail>
  sessions(index: number): Promise<SessionRow[]>
  allSessions(): Promise<SessionWithLocal[]>
  topology(): Promise<TopologyReport>
  readiness(): Promise<Readiness>
  /** Dials `address` from node `index`; resolves with the session. ERR_NODE (nodeCode ERR_INVALID_ADDRESS etc.) on failure. */
  dial(index: number, address: string): Promise<SessionRow>
  /** Closes one session; throws ERR_UNKNOWN_SESSION if the node has no such session. */
  closeSession(index: number, sessionId: string): Promise<void>
  /** ERR_CONFLICT when the node is not running (stop/restart) or already running (start). */
  startNode(index: number): Promise<void>
  stopNode(index: number): Promise<void>
  restartNode(index: number): Promise<void>
  /** Test-only fault: kills the worker abruptly, as a crash would. */
  crashNode(index: number): Promise<void>
  /** Per-node stats for metrics; null for nodes not running. */
  allStats(): Promise<(NodeStats | null)[]>
  allowlist(): AllowlistView
  /** Writes the allowlist file and pushes the list to every running node. */
  setAllowlist(list: { enabled: boolean; nodeIds: readonly string[] }): Promise<AllowlistView>
  /** Resolves with the ids that were not on the list yet. */
  allowlistAdd(nodeIds: readonly string[]): Promise<string[]>
  /** Resolves false if the id was not on the list; sessions with a removed id are closed (`not-allowed`). */
  allowlistRemove(nodeId: string): Promise<boolean>
  /** Re-reads the file; ERR_ALLOWLIST_INVALID (last good list kept) if it is bad. */
  allowlistReload(): Promise<AllowlistView>
  readonly supervisorRestarts: number
  on(event: 'event', listener: (e: SupervisorEvent) => void): unknown
  off(event: 'event', listener: (e: SupervisorEvent) => void): unknown
}
