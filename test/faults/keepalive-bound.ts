/**
 * The most frames one end of a session sends into a dark link before its keepalive gives up, so a
 * fault test can check "closed at the first tick past the timeout" by counting, not by a clock.
 *
 * A keepalive tick (packages/node/src/keepalive.ts) closes a session silent for more than
 * `timeoutMs` and otherwise PINGs it if it heard nothing since the previous tick — with a timeout
 * of 2.5 intervals or more; with a shorter one, every tick PINGs. So the PINGs come from ticks in
 * the `timeoutMs` after the last byte received, less the first of them (which heard that byte).
 * Ticks come from setInterval, at least `intervalMs` apart less 1 ms of timer rounding: a loaded
 * machine only spreads them further, which can lower the count, never raise it. The silence is
 * counted on a clock that may round to 1 ms. On top of the PINGs: the CLOSE (keepalive-timeout),
 * and a PONG to a PING that passed just before the link went dark.
 */
export function keepaliveFrameBound(intervalMs: number, timeoutMs: number): number {
  const ticks = Math.floor((timeoutMs + 1) / (intervalMs - 1)) + 1
  const pings = timeoutMs >= 2.5 * intervalMs ? ticks - 1 : ticks
  return pings + 2
}
