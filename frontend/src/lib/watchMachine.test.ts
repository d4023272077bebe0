import { describe, expect, it } from "vitest";
import {
  BASE_DELAY_MS,
  HEALTHY_AFTER_MS,
  MAX_DELAY_MS,
  backoffDelay,
  transition,
  type WatchEffect,
  type WatchInput,
  type WatchState,
} from "./watchMachine";

function run(inputs: WatchInput[], from: WatchState = { kind: "idle" }) {
  let state = from;
  const effects: WatchEffect[] = [];
  for (const input of inputs) {
    const next = transition(state, input);
    state = next.state;
    effects.push(...next.effects);
  }
  return { state, effects };
}

describe("backoffDelay", () => {
  it("doubles from the base, with at least half the ceiling, up to the maximum", () => {
    const cases: [string, number, number, number][] = [
      ["first, no jitter", 0, 0, BASE_DELAY_MS / 2],
      ["first, full jitter", 0, 0.999999, BASE_DELAY_MS],
      ["third", 2, 0, (BASE_DELAY_MS * 4) / 2],
      ["capped", 20, 0.999999, MAX_DELAY_MS],
      ["capped, no jitter", 50, 0, MAX_DELAY_MS / 2],
    ];
    for (const [name, attempt, random, expected] of cases) {
      expect(backoffDelay(attempt, random), name).toBe(expected);
    }
  });
});

describe("transition", () => {
  it("opens the watch first and lists only once it is open", () => {
    const started = run([{ type: "start", online: true }]);
    expect(started.state.kind).toBe("connecting");
    expect(started.effects).toEqual([{ type: "open" }]);
    const opened = run([{ type: "opened", now: 1000 }], started.state);
    expect(opened.state).toEqual({ kind: "live", attempt: 0, since: 1000 });
    expect(opened.effects).toEqual([{ type: "list" }]);
  });

  it("backs off longer after each failure that never got live", () => {
    let state: WatchState = run([{ type: "start", online: true }]).state;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const failed = transition(state, { type: "failed", now: 0, random: 0 });
      const schedule = failed.effects.find((e) => e.type === "schedule");
      delays.push(schedule && schedule.type === "schedule" ? schedule.delayMs : -1);
      expect(failed.effects[0]).toEqual({ type: "close" });
      state = transition(failed.state, { type: "retry" }).state;
      expect(state.kind).toBe("connecting");
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
  });

  it("keeps backing off when a stream dies soon after opening, and starts over after a healthy one", () => {
    const flapping = run([
      { type: "start", online: true },
      { type: "failed", now: 0, random: 0 },
      { type: "retry" },
      { type: "opened", now: 1000 },
      { type: "failed", now: 1500, random: 0 },
    ]);
    expect(flapping.state).toMatchObject({ kind: "waiting", attempt: 2, retryAt: 1500 + 500 });

    const healthy = run(
      [
        { type: "opened", now: 1000 },
        { type: "failed", now: 1000 + HEALTHY_AFTER_MS, random: 0 },
      ],
      { kind: "connecting", attempt: 6 },
    );
    expect(healthy.state).toMatchObject({ kind: "waiting", attempt: 1, retryAt: 1000 + HEALTHY_AFTER_MS + 250 });
  });

  it("lists again when the server says the client missed events", () => {
    const live: WatchState = { kind: "live", attempt: 0, since: 0 };
    expect(transition(live, { type: "resync" })).toEqual({ state: live, effects: [{ type: "list" }] });
    const connecting: WatchState = { kind: "connecting", attempt: 0 };
    expect(transition(connecting, { type: "resync" }).effects).toEqual([]);
  });

  it("waits for the network when offline and reconnects at once when it is back", () => {
    const offline = run([{ type: "start", online: false }]);
    expect(offline).toEqual({ state: { kind: "offline" }, effects: [] });
    const back = run([{ type: "online" }], offline.state);
    expect(back).toEqual({ state: { kind: "connecting", attempt: 0 }, effects: [{ type: "open" }] });

    const waiting: WatchState = { kind: "waiting", attempt: 4, retryAt: 99_999 };
    expect(transition(waiting, { type: "online" }).effects).toEqual([{ type: "open" }]);
    const wentOffline = transition({ kind: "live", attempt: 0, since: 0 }, { type: "offline" });
    expect(wentOffline).toEqual({ state: { kind: "offline" }, effects: [{ type: "close" }] });
  });

  it("ignores a retry timer or failure that arrives after a stop", () => {
    const stopped = run([
      { type: "start", online: true },
      { type: "stop" },
      { type: "failed", now: 0, random: 0 },
      { type: "retry" },
    ]);
    expect(stopped.state).toEqual({ kind: "idle" });
    expect(stopped.effects).toEqual([{ type: "open" }, { type: "close" }]);
  });
});
