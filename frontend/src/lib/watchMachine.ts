// The reconnect state machine of the one WatchTasks stream of a tab. Pure: the runner
// (useWatch) feeds it inputs and performs the effects it returns, so every transition is
// unit-tested without a network.
//
// Protocol (ARCHITECTURE.md, sync): open the watch first; when it is open (its first message, a
// heartbeat, arrived) list, then apply events newer than the listed versions. A resync request
// from the server means events were missed: list again. A failure waits with exponential
// backoff and jitter before opening again; going offline waits for the browser to be online.

/** Where the watch is. */
export type WatchState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; attempt: number; since: number }
  | { kind: "waiting"; attempt: number; retryAt: number }
  | { kind: "offline" };

/** What happened. */
export type WatchInput =
  | { type: "start"; online: boolean }
  | { type: "opened"; now: number }
  | { type: "resync" }
  | { type: "failed"; now: number; random: number }
  | { type: "retry" }
  | { type: "offline" }
  | { type: "online" }
  | { type: "stop" };

/** What the runner must do. */
export type WatchEffect =
  | { type: "open" }
  | { type: "close" }
  | { type: "list" }
  | { type: "schedule"; delayMs: number };

/** The first retry waits about this long; each failure doubles it. */
export const BASE_DELAY_MS = 500;
/** No retry waits longer than this. */
export const MAX_DELAY_MS = 30_000;
/** A stream that stayed live this long counts as healthy: the next failure starts over. */
export const HEALTHY_AFTER_MS = 10_000;
/** With no message for this long (the server sends heartbeats every 15 s), the stream is dead. */
export const SILENCE_LIMIT_MS = 40_000;

/** The delay before retry number `attempt` (0-based), with `random` in [0, 1) as jitter. */
export function backoffDelay(attempt: number, random: number): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  // "Equal jitter": at least half the ceiling, so retries never bunch up at zero.
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** The next state and the effects to perform. */
export function transition(
  state: WatchState,
  input: WatchInput,
): { state: WatchState; effects: WatchEffect[] } {
  switch (input.type) {
    case "start":
      if (state.kind !== "idle") return { state, effects: [] };
      return input.online
        ? { state: { kind: "connecting", attempt: 0 }, effects: [{ type: "open" }] }
        : { state: { kind: "offline" }, effects: [] };
    case "opened":
      if (state.kind !== "connecting") return { state, effects: [] };
      return {
        state: { kind: "live", attempt: state.attempt, since: input.now },
        effects: [{ type: "list" }],
      };
    case "resync":
      if (state.kind !== "live") return { state, effects: [] };
      return { state, effects: [{ type: "list" }] };
    case "failed": {
      if (state.kind !== "connecting" && state.kind !== "live") return { state, effects: [] };
      const healthy = state.kind === "live" && input.now - state.since >= HEALTHY_AFTER_MS;
      const attempt = healthy ? 0 : state.attempt;
      const delayMs = backoffDelay(attempt, input.random);
      return {
        state: { kind: "waiting", attempt: attempt + 1, retryAt: input.now + delayMs },
        effects: [{ type: "close" }, { type: "schedule", delayMs }],
      };
    }
    case "retry":
      if (state.kind !== "waiting") return { state, effects: [] };
      return { state: { kind: "connecting", attempt: state.attempt }, effects: [{ type: "open" }] };
    case "offline":
      if (state.kind === "idle" || state.kind === "offline") return { state, effects: [] };
      return { state: { kind: "offline" }, effects: [{ type: "close" }] };
    case "online":
      if (state.kind === "offline") {
        return { state: { kind: "connecting", attempt: 0 }, effects: [{ type: "open" }] };
      }
      if (state.kind === "waiting") {
        // The network is back: try now instead of sitting out the backoff.
        return { state: { kind: "connecting", attempt: state.attempt }, effects: [{ type: "open" }] };
      }
      return { state, effects: [] };
    case "stop":
      if (state.kind === "idle") return { state, effects: [] };
      return { state: { kind: "idle" }, effects: [{ type: "close" }] };
  }
}
