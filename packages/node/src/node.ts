import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import {
  type CloseReason,
  formatAddress,
  generateSecretKey,
  Handshake,
  type HandshakeResult,
  type Identity,
  identityFromSecretKey,
  type PeerAddress,
  PeerhouseError,
  parseAddress,
  type Refusal,
} from '@peerhouse/protocol'
import { Allowlist, admissionVerdict, emptyStats } from './admission.ts'
import { type Clock, realClock, type Timer } from './clock.ts'
import { ConnectWaiters } from './connect-waiters.ts'
import { Connection, type ConnectionOwner, type Direction } from './connection.ts'
import { DialQueue } from './dial-queue.ts'
import { HandshakeSlots } from './handshake-slots.ts'
import { IdentityAlarms } from './identity-alarms.ts'
import { Keepalive } from './keepalive.ts'
import { KEY_FILE_NAME, loadOrCreateIdentity, nextIncarnation } from './key-file.ts'
import { netTransport } from './net-transport.ts'
import { NodeBudgets } from './node-budgets.ts'
import { type NodeInit, type ResolvedOptions, resolveOptions } from './options.ts'
import { type Random, realRandom } from './random.ts'
import { RedialSchedule } from './redial-schedule.ts'
import { SessionTable, sessionRow } from './session-table.ts'
import type { Link, Listener, Transport } from './transport.ts'
import type { AddPeersResult, Logger, NodeEvents, NodeStats, SessionRow } from './types.ts'

/** Closes decided by the dedup rule: never a failure, never a reason to back off. */
const isDedupReason = (reason: CloseReason) => reason === 'duplicate' || reason === 'stale'

/** How long a handshake in progress may hold off a crossing dial that the rule would discard. */
const PENDING_DEFER_MS = 1000

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * One P2P node: listens on one port, dials peers by `<nodeId>@host:port`, proves its key,
 * and keeps exactly one session per remote node id (patent methods 300 and 400).
 */
export class Node extends EventEmitter<NodeEvents> {
  readonly identity: Identity
  readonly nodeId: string
  readonly incarnation: bigint
  readonly #opts: ResolvedOptions
  readonly #clock: Clock
  readonly #log: Logger
  readonly #table: SessionTable
  readonly #slots: HandshakeSlots
  readonly #waiters: ConnectWaiters
  readonly #resolving = new Set<string>()
  readonly #dials: DialQueue
  readonly #redial: RedialSchedule
  readonly #owner: ConnectionOwner
  #listener?: Listener
  /** Set by stop(): called once the last connection has closed. */
  #whenEmpty?: () => void
  readonly #transport: Transport
  readonly #random: Random
  readonly #keepalive: Keepalive
  #running = false
  #port = 0
  readonly #allowlist: Allowlist
  readonly #alarms: IdentityAlarms
  readonly #budgets: NodeBudgets
  readonly stats: NodeStats = emptyStats()

  constructor(init: NodeInit = {}) {
    super()
    this.#opts = resolveOptions(init)
    this.#clock = init.clock ?? realClock
    this.#transport = init.transport ?? netTransport
    this.#random = init.random ?? realRandom
    this.#log = init.logger ?? silent
    this.identity =
      init.identity ??
      (init.dataDir !== undefined
        ? loadOrCreateIdentity(join(init.dataDir, KEY_FILE_NAME), { allowNewIdentity: init.allowNewIdentity })
        : identityFromSecretKey(generateSecretKey()))
    this.nodeId = this.identity.nodeId
    this.incarnation = init.incarnation ?? nextIncarnation(init.dataDir)
    this.#table = new SessionTable(this.nodeId, this.#clock, init.testOnlyBreaks)
    this.#slots = new HandshakeSlots(this.#opts.maxHandshakes)
    this.#waiters = new ConnectWaiters(this.#clock)
    this.#alarms = new IdentityAlarms({
      clock: this.#clock,
      log: this.#log,
      stats: this.stats,
      emit: (e) => this.emit('identity:conflict', e),
    })
    this.#budgets = new NodeBudgets({
      table: this.#table,
      clock: this.#clock,
      maxQueuedBytes: this.#opts.maxQueuedBytes,
      maxPartialFrameBytes: this.#opts.maxPartialFrameBytes,
      isProtected: (conn) => {
        const id = conn.session?.remoteNodeId
        return id !== undefined && this.#isProtected(id, conn.direction)
      },
    })
    this.#keepalive = new Keepalive({
      table: this.#table,
      clock: this.#clock,
      intervalMs: this.#opts.keepaliveIntervalMs,
      timeoutMs: this.#opts.keepaliveTimeoutMs,
      writeStallMs: this.#opts.writeStallTimeoutMs,
    })
    this.#dials = new DialQueue({
      table: this.#table,
      opts: this.#opts,
      stats: this.stats,
      log: this.#log,
      clock: this.#clock,
      transport: this.#transport,
      random: this.#random,
      running: () => this.#running,
      isAllowed: (id) => this.isAllowed(id),
      adopt: (link, id) => this.#adopt(link, 'outbound', id),
      failed: (id, error) => this.#afterFailure(id, error),
    })
    this.#redial = new RedialSchedule({
      clock: this.#clock,
      random: this.#random,
      minMs: this.#opts.redialMinMs,
      maxMs: this.#opts.redialMaxMs,
      dial: (address) => this.#dials.dial(address),
      isConnected: (id) => this.#table.connectedOrDialing(id),
      // Rule 1 keeps the session dialed by the smaller id: the larger id holds back its dial.
      graceFor: (id) => (this.nodeId < id ? 0 : this.#dials.grace(this.#redial.ids())),
    })
    for (const peer of init.peers ?? []) {
      const address = typeof peer === 'string' ? parseAddress(peer) : peer
      if (address.nodeId !== this.nodeId) this.#redial.add(address)
    }
    this.#allowlist = new Allowlist(init.allowlist)
    this.#owner = {
      onRemoteKnown: (conn) => this.#onRemoteKnown(conn),
      admit: (conn) => this.#admit(conn),
      onEstablished: (conn) => this.#onEstablished(conn),
      onConfirmed: (conn) => this.#onConfirmed(conn),
      onMessage: (conn, data) => {
        this.stats.messagesIn++
        this.emit('message', { from: conn.remoteNodeId as string, sessionId: conn.session?.sessionId as string, data })
      },
      holdPartial: (conn, bytes) => {
        for (const victim of this.#budgets.holdPartial(conn, bytes)) {
          this.stats.sessionsRefused++
          victim.cut('overloaded')
        }
      },
      onClosing: (conn) => this.#onClosing(conn),
      onClosed: (conn) => this.#onClosed(conn),
    }
  }

  get host(): string {
    return this.#opts.host
  }

  get port(): number {
    return this.#port
  }

  get networkId(): string {
    return this.#opts.networkId
  }

  /** `<nodeId>@<host>:<port>`, what other nodes dial. */
  get address(): string {
    return formatAddress({ nodeId: this.nodeId, host: this.#opts.host, port: this.#port })
  }

  get running(): boolean {
    return this.#running
  }

  async start(): Promise<void> {
    if (this.#running) return
    const listener = await this.#transport.listen(this.#opts.host, this.#opts.port, (link) => this.#onInbound(link))
    this.#listener = listener
    this.#port = listener.port
    this.#running = true
    this.#keepalive.start()
    this.emit('listening', { host: this.#opts.host, port: this.#port })
    this.#redial.start()
  }

  /**
   * Closes every session with reason `shutdown` and stops listening. With `graceful: false`
   * links are destroyed without a CLOSE frame, as if the process had crashed. `drainMs` bounds
   * the wait for the peers' FINs after our CLOSE (default `drainTimeoutMs`); connections still
   * open then are destroyed, so a whole host going down at once keeps to its time budget.
   */
  async stop(opts: { graceful?: boolean; drainMs?: number } = {}): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#redial.stop()
    this.#dials.clear()
    this.#keepalive.stop()
    this.#waiters.rejectAll(new PeerhouseError('ERR_NOT_RUNNING', 'node stopped', { reason: 'shutdown' }))
    const listenerClosed = this.#listener?.close() ?? Promise.resolve()
    this.#listener = undefined
    for (const dial of this.#table.dials()) dial.abort()
    const allClosed = new Promise<void>((resolve) => {
      this.#whenEmpty = resolve
    })
    for (const conn of this.#table.connections()) {
      if (opts.graceful === false) conn.abort('shutdown')
      else conn.close('shutdown')
    }
    this.#checkEmpty()
    let late: Timer | undefined
    await Promise.race([
      allClosed,
      new Promise<void>((resolve) => {
        late = this.#clock.setTimeout(resolve, opts.drainMs ?? this.#opts.drainTimeoutMs)
      }),
    ])
    late?.cancel()
    for (const conn of this.#table.connections()) if (conn.state !== 'closed') conn.link.destroy()
    await Promise.all([allClosed, listenerClosed])
  }

  /** While stopping: resolves stop() once the last connection is gone. */
  #checkEmpty(): void {
    if (this.#whenEmpty !== undefined && this.#table.size === 0) {
      this.#whenEmpty()
      this.#whenEmpty = undefined
    }
  }

  /** The allowlist in force, or null for an open network. */
  get allowlist(): string[] | null {
    return this.#allowlist.list()
  }

  /**
   * Replaces the allowlist (null: open network) without a restart. Sessions and handshakes
   * with nodes no longer allowed are closed with `not-allowed`; configured peers newly allowed
   * are dialed at once.
   */
  setAllowlist(ids: Iterable<string> | null): void {
    this.#allowlist.set(ids)
    for (const conn of this.#table.connections()) {
      // Only proven ids (and our own dials) are judged; an unproven claim is judged after its proof.
      const id = conn.session?.remoteNodeId ?? conn.dialedId
      if (id !== undefined && !this.isAllowed(id) && conn.state !== 'closing' && conn.state !== 'closed') {
        conn.close('not-allowed')
      }
    }
    if (this.#running) for (const id of this.#redial.ids()) if (this.isAllowed(id)) this.#redial.kick(id)
  }

  isAllowed(nodeId: string): boolean {
    return this.#allowlist.allows(nodeId)
  }

  /** Keeps `address` connected: dials now and re-dials after every loss. */
  addPeer(address: string | PeerAddress): AddPeersResult {
    return this.addPeers([address])
  }

  /**
   * Keeps every address connected. Each entry is judged on its own: this node's own id and
   * addresses that do not parse are skipped and reported, the rest are added before the first
   * dial, so the dial grace sees the whole batch (a storm, not one peer).
   */
  addPeers(addresses: readonly (string | PeerAddress)[]): AddPeersResult {
    const added: PeerAddress[] = []
    const skipped: { address: string; reason: 'self' | 'invalid'; message: string }[] = []
    for (const a of addresses) {
      const text = typeof a === 'string' ? a : formatAddress(a)
      let peer: PeerAddress
      try {
        peer = typeof a === 'string' ? parseAddress(a) : a
      } catch (err) {
        skipped.push({ address: text, reason: 'invalid', message: (err as Error).message })
        continue
      }
      if (peer.nodeId === this.nodeId) {
        skipped.push({ address: text, reason: 'self', message: 'this is the node itself' })
        continue
      }
      added.push(peer)
    }
    for (const peer of added) this.#redial.add(peer)
    if (this.#running) for (const peer of added) this.#redial.kick(peer.nodeId)
    return { added: added.map((p) => p.nodeId), skipped }
  }

  removePeer(nodeId: string): boolean {
    return this.#redial.remove(nodeId)
  }

  /**
   * Method 300: resolves with a session to the address's node. An existing session or a dial
   * already in progress to that id is reused instead of dialing again. Rejects with a
   * PeerhouseError whose `reason` says how the dial ended (`wrong-node`, `handshake-timeout`,
   * `unreachable`, …) as soon as it ended.
   */
  connect(address: string | PeerAddress): Promise<SessionRow> {
    const peer = typeof address === 'string' ? parseAddress(address) : address
    if (!this.#running) return Promise.reject(new PeerhouseError('ERR_NOT_RUNNING', 'node is not started'))
    if (peer.nodeId === this.nodeId) {
      this.stats.selfConnects++
      return Promise.reject(new PeerhouseError('ERR_SELF_CONNECT', `${formatAddress(peer)} is this node`))
    }
    if (!this.isAllowed(peer.nodeId)) {
      return Promise.reject(new PeerhouseError('ERR_NOT_ALLOWED', `${peer.nodeId} is not on the allowlist`))
    }
    const existing = this.#table.preferred(peer.nodeId)
    if (existing !== undefined) return Promise.resolve(sessionRow(existing))
    const waiting = this.#waiters.wait(peer.nodeId)
    this.#dials.dial(peer)
    return waiting
  }

  /** The session send() to `nodeId` uses now (the one the dedup rule keeps), if there is one. */
  sessionFor(nodeId: string): SessionRow | undefined {
    const conn = this.#table.preferred(nodeId)
    return conn === undefined ? undefined : sessionRow(conn)
  }

  /** Closes one session with reason `disconnect`. Returns false for an unknown session id. */
  disconnect(sessionId: string): boolean {
    for (const conn of this.#table.connections()) {
      if (conn.session?.sessionId === sessionId && conn.usable) {
        conn.close('disconnect')
        return true
      }
    }
    return false
  }

  /**
   * Sends on the session the dedup rule keeps. Throws ERR_NO_SESSION if there is none, and
   * ERR_BACKPRESSURE (nothing queued) while the peer's queue is at maxWriteBufferBytes.
   */
  send(nodeId: string, data: Uint8Array): boolean {
    const conn = this.#table.preferred(nodeId)
    if (conn === undefined) throw new PeerhouseError('ERR_NO_SESSION', `no session to ${nodeId}`)
    this.#budgets.checkSend(conn, nodeId)
    const before = conn.queuedBytes
    const flushed = conn.send(data)
    this.#budgets.sent(conn, Math.max(0, conn.queuedBytes - before))
    this.stats.messagesOut++
    return flushed
  }

  /** Sends to every connected node once; returns how many took it (a peer under backpressure is skipped). */
  broadcast(data: Uint8Array): number {
    let n = 0
    for (const id of this.connectedNodeIds()) {
      try {
        this.send(id, data)
        n++
      } catch (err) {
        if (!(err instanceof PeerhouseError && err.code === 'ERR_BACKPRESSURE')) throw err
      }
    }
    return n
  }

  /** Connections past the key proof, not closed (closing ones included): what the session caps count. */
  get sessionCount(): number {
    return this.#table.sessionCount
  }

  /** Dials and handshakes not finished yet; 0 once every connection has settled. */
  get handshakesInProgress(): number {
    return this.#table.handshakesInProgress
  }

  connectedNodeIds(): string[] {
    return this.#table.connectedNodeIds()
  }

  /** Every established session, closing ones included until their link is gone. */
  sessions(): SessionRow[] {
    return this.#table.rows()
  }

  #onInbound(link: Link): void {
    if (!this.#running) {
      link.destroy()
      return
    }
    this.stats.accepts++
    const oldest = this.#slots.makeRoom()
    if (oldest !== undefined) {
      this.stats.handshakesEvicted++
      oldest.abort('overloaded')
    }
    this.#adopt(link, 'inbound')
  }

  /** Configured, allowlisted in permissioned mode, or this connection is our own dial. */
  #isProtected(id: string, direction?: Direction): boolean {
    return direction === 'outbound' || this.#redial.has(id) || (this.#allowlist.enabled && this.isAllowed(id))
  }

  /** After the key proof, before the session exists: identity, membership, per-peer bound, capacity. */
  #admit(conn: Connection): CloseReason | undefined {
    const s = conn.session as HandshakeResult
    this.#slots.release(conn)
    this.#table.prove(conn)
    const liveIncarnations = this.#table
      .usable(s.remoteNodeId)
      .map((c) => (c.session as HandshakeResult).remoteIncarnation)
    const verdict = admissionVerdict({
      twin: s.remoteNodeId === this.nodeId,
      allowed: this.isAllowed(s.remoteNodeId),
      remoteIncarnation: s.remoteIncarnation,
      liveIncarnations,
      connectionsOfPeer: this.#table.filedCount(s.remoteNodeId),
      maxConnectionsPerPeer: this.#opts.maxConnectionsPerPeer,
      protected: this.#isProtected(s.remoteNodeId, conn.direction),
      otherSessions: this.#table.sessionCount - 1,
      maxSessions: this.#opts.maxSessions,
    })
    if (verdict.admit) {
      if (verdict.evictStranger) this.#evictStranger()
      return undefined
    }
    if (verdict.why === 'not-allowed') this.stats.notAllowed++
    else if (verdict.why === 'capacity') this.stats.sessionsRefused++
    else if (verdict.why === 'peer-limit') this.stats.peerLimitRefused++
    else if (verdict.why === 'twin' || this.#isProtected(s.remoteNodeId)) {
      // Proven: the peer signed with this node's own key (a second process holds it), or a peer we
      // chose signed with its key and a lower incarnation than a live session of it (a copied key).
      this.#alarms.raise({
        nodeId: s.remoteNodeId,
        incarnations:
          verdict.why === 'twin' ? [this.incarnation, s.remoteIncarnation] : [s.remoteIncarnation, ...liveIncarnations],
        byPeer: false,
        remoteAddress: conn.remoteAddress,
      })
    } else {
      // A stranger's key proved twice: free to make, so nobody's concern but the stranger's.
      this.stats.identityClaimsIgnored++
    }
    return verdict.reason
  }

  /** The newest stranger session makes room for a protected peer at the session cap. */
  #evictStranger(): void {
    let newest: Connection | undefined
    for (const c of this.#table.sessions()) {
      const id = (c.session as HandshakeResult).remoteNodeId
      if (c.usable && !this.#isProtected(id, c.direction)) newest = c
    }
    if (newest === undefined) return
    this.stats.sessionsEvicted++
    // No drain: its descriptor is what the protected peer needs, so it goes once the CLOSE is out.
    newest.close('overloaded', { noDrain: true })
  }

  /**
   * After the peer's HELLO, before any signing: a connection dialed by the larger id is doomed
   * when the session rule 1 keeps (dialed by the smaller id) is up or on its way. Refusing it
   * now with `duplicate` saves both ends a signature and a verification (PROTOCOL.md §8.8).
   */
  #screen(conn: Connection, peer: { nodeId: string; incarnation: bigint }): Refusal | undefined {
    const dialedByLarger = (conn.direction === 'outbound') !== this.nodeId < peer.nodeId
    if (!dialedByLarger || !this.#opts.screenCrossingDials) return undefined
    const kept = this.#table.keptSessionUpOrComing(conn, peer, PENDING_DEFER_MS)
    if (kept === undefined) return undefined
    this.stats.duplicatesAvoided++
    // The winner names the session that is up: a dialer that meant another node (it has not seen
    // our HELLO) learns from it whom it reached (PROTOCOL.md §8.8).
    return kept === 'coming' ? { reason: 'duplicate' } : { reason: 'duplicate', winner: kept.session?.sessionId }
  }

  #adopt(link: Link, direction: Direction, dialedId?: string): void {
    let conn: Connection | undefined
    const screen = (peer: { nodeId: string; incarnation: bigint }) => this.#screen(conn as Connection, peer)
    conn = new Connection({
      link,
      direction,
      dialedId,
      owner: this.#owner,
      clock: this.#clock,
      setupTimeoutMs: this.#opts.handshakeTimeoutMs,
      helloTimeoutMs: this.#opts.helloTimeoutMs,
      drainTimeoutMs: this.#opts.drainTimeoutMs,
      maxWriteBufferBytes: this.#opts.maxWriteBufferBytes,
      handshake: new Handshake({
        identity: this.identity,
        random: (n) => this.#random.bytes(n),
        role: direction === 'outbound' ? 'dialer' : 'listener',
        networkId: this.#opts.networkId,
        incarnation: this.incarnation,
        expectedNodeId: dialedId,
        screen,
      }),
    })
    this.#table.add(conn, dialedId)
    if (direction === 'inbound') this.#slots.add(conn)
  }

  // --- connection events ------------------------------------------------------------------

  /** Only the connection's own slot may change: a configured or allowlisted name is kept aside from eviction. */
  #onRemoteKnown(conn: Connection): void {
    if (conn.direction === 'inbound') {
      const id = conn.remoteNodeId as string
      this.#slots.claim(conn, id, id !== this.nodeId && this.#isProtected(id))
    }
  }

  #onEstablished(conn: Connection): void {
    const id = conn.remoteNodeId as string
    if (conn.direction === 'outbound') this.#dials.next()
    // Steps 316 / 408: is there another session with this node id?
    this.#resolve(id)
  }

  /** The peer's READY: the session is up at both ends, so it is announced now. */
  #onConfirmed(conn: Connection): void {
    const id = conn.remoteNodeId as string
    this.stats.handshakesOk++
    this.#redial.succeeded(id)
    const row = sessionRow(conn)
    this.emit('session:open', row)
    this.#waiters.resolve(id, row)
    this.#resolve(id)
  }

  /** Applies the dedup rule to every live session with `remoteId`. */
  #resolve(remoteId: string): void {
    if (this.#resolving.has(remoteId)) return
    this.#resolving.add(remoteId)
    try {
      const plan = this.#table.plan(remoteId)
      for (const { session, reason } of plan.close) {
        session.conn.close(reason, { winner: plan.winner?.sessionId })
      }
    } finally {
      this.#resolving.delete(remoteId)
    }
  }

  #onClosing(conn: Connection): void {
    const info = conn.closeInfo
    if (info === undefined) return
    if (info.reason === 'slow-reader' && !info.byPeer) this.stats.slowReaders++
    // Only a proven connection speaks for a node id; before the proof, the id is a claim.
    const id = conn.session?.remoteNodeId
    if (!conn.confirmed && !(conn.wasEstablished && isDedupReason(info.reason))) {
      // Ended before the peer confirmed it: the peer refused us, or setup failed.
      this.#onHandshakeEnded(conn)
      if (conn.wasEstablished && id !== undefined) this.#resolve(id)
      return
    }
    if (info.reason === 'duplicate') {
      this.stats.duplicatesClosed++
      const winner = info.winner ?? ''
      if (info.byPeer) {
        // A real divergence: the peer's winner is alive here, yet our rule prefers another
        // session. A winner that is closing or gone here (keepalive, disconnect) is a race, not that.
        const ours = this.#table.preferred(id as string)
        const theirs = this.#table.usable(id as string).find((c) => c.session?.sessionId === winner)
        if (theirs !== undefined && ours !== theirs) {
          this.stats.dedupDisagreements++
          this.#log.warn({ peer: id, winner, ours: ours?.session?.sessionId }, 'peer chose another dedup winner')
        }
      }
      this.emit('session:duplicate', {
        sessionId: (conn.session as HandshakeResult).sessionId,
        remoteNodeId: id as string,
        winner,
        byPeer: info.byPeer,
      })
    } else if (info.reason === 'stale') {
      this.stats.staleClosed++
    }
    // A closing winner may leave a waiting loser as the best remaining session.
    if (id !== undefined) this.#resolve(id)
  }

  #onHandshakeEnded(conn: Connection): void {
    const info = conn.closeInfo
    if (info === undefined) return
    if (info.reason === 'self') this.stats.selfConnects++
    if (info.reason === 'identity-conflict' && info.byPeer) {
      const reporter = info.authenticated === true ? conn.session?.remoteNodeId : undefined
      // Only a configured or allowlisted peer's word counts (a one-off dial's target does not: it
      // may be anyone); its CLOSE must be encrypted, i.e. said by the key holder itself.
      if (reporter !== undefined && this.#isProtected(reporter)) {
        this.#alarms.raise({
          nodeId: this.nodeId,
          incarnations: [this.incarnation],
          byPeer: true,
          reportedBy: reporter,
          remoteAddress: conn.remoteAddress,
        })
      } else {
        // A plaintext CLOSE (anyone can send those 22 bytes), or a stranger's word (a key costs
        // nothing to make): counted, never an alarm.
        this.stats.identityClaimsIgnored++
      }
    }
    if (info.reason !== 'duplicate' && info.reason !== 'shutdown') {
      this.stats.handshakesFailed[info.reason] = (this.stats.handshakesFailed[info.reason] ?? 0) + 1
    }
    const proven = conn.session?.remoteNodeId ?? conn.dialedId
    const claimed = conn.remoteNodeId !== proven ? conn.remoteNodeId : undefined
    this.emit('handshake:error', {
      reason: info.reason,
      direction: conn.direction,
      remoteAddress: conn.remoteAddress,
      ...(proven !== undefined && { remoteNodeId: proven }),
      ...(claimed !== undefined && { claimedNodeId: claimed }),
      byPeer: info.byPeer,
      chosen: proven !== undefined && this.#isProtected(proven, conn.direction),
      message: info.error?.message,
    })
  }

  #onClosed(conn: Connection): void {
    this.#slots.release(conn)
    this.#onClosedInner(conn)
    this.#checkEmpty()
  }

  #onClosedInner(conn: Connection): void {
    this.#budgets.holdPartial(conn, 0)
    const id = this.#table.remove(conn)
    if (conn.direction === 'outbound') this.#dials.next()
    if (id === undefined) return // an inbound connection that never proved its node
    const info = conn.closeInfo
    if (conn.confirmed && info !== undefined) {
      this.emit('session:close', {
        session: sessionRow(conn),
        reason: info.reason,
        byPeer: info.byPeer,
        winner: info.winner,
      })
    }
    if (this.#table.connectedOrDialing(id)) return
    const reason = info?.reason ?? 'connection-lost'
    if (!conn.confirmed && !isDedupReason(reason)) {
      const message = `handshake with ${id} ended: ${reason}${info?.error ? ` (${info.error.message})` : ''}`
      this.#afterFailure(id, new PeerhouseError('ERR_NO_SESSION', message, { cause: info?.error, reason }))
      return
    }
    if (!conn.confirmed && this.#reachedAnother(conn, id)) return
    this.#redial.lost(id, reason)
    if (!conn.confirmed && this.#waiters.has(id)) {
      // Our dial ended as a duplicate: the session it deferred to should open shortly. Callers
      // of connect() get it then, or this reason once the setup deadline has passed.
      this.#waiters.expireAfter(
        id,
        this.#opts.handshakeTimeoutMs,
        () => new PeerhouseError('ERR_NO_SESSION', `dial to ${id} ended as ${reason}; no session followed`, { reason }),
      )
    }
  }

  /**
   * Our dial to `id` was refused as a duplicate before we saw the listener's HELLO, naming as
   * winner a session we hold with ANOTHER node: the address belongs to that node, not to `id`.
   * That is a `wrong-node` failure, reported at once (not a session to wait for).
   */
  #reachedAnother(conn: Connection, id: string): boolean {
    const info = conn.closeInfo
    if (conn.direction !== 'outbound' || info?.reason !== 'duplicate' || info.winner === undefined) return false
    const other = this.#table.sessionById(info.winner)
    const reached = other?.session?.remoteNodeId
    if (reached === undefined || reached === id) return false
    this.#afterFailure(
      id,
      new PeerhouseError('ERR_WRONG_NODE', `expected node ${id} at ${conn.remoteAddress}, reached ${reached}`, {
        reason: 'wrong-node',
      }),
    )
    return true
  }

  /** A dial or handshake failed and nothing else is under way for `id`. */
  #afterFailure(id: string, error: PeerhouseError): void {
    if (this.#table.connectedOrDialing(id)) return
    this.#waiters.reject(id, error)
    if (this.#running) this.#redial.failed(id, error.reason)
  }
}
