// Runs the tab's one WatchTasks stream with the reconnect machine of lib/watchMachine.ts.

import { useEffect, useRef, useState } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { api, session } from "./api";
import type { ReminderDue, TaskEvent } from "./gen/todo/v1/events_pb";
import { SILENCE_LIMIT_MS, transition, type WatchInput, type WatchState } from "./lib/watchMachine";

/** What the watch reports to the screen. */
export interface WatchHandlers {
  onEvent: (event: TaskEvent) => void;
  onReminder: (reminder: ReminderDue) => void;
  /** List again: the watch just opened, or the server said events were missed. */
  onList: () => void;
}

/** Keeps the watch open while mounted; returns where it is, for the connection status. */
export function useWatch(handlers: WatchHandlers): WatchState {
  const [state, setState] = useState<WatchState>({ kind: "idle" });
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  useEffect(() => {
    let current: WatchState = { kind: "idle" };
    let stream: AbortController | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let silenceTimer: ReturnType<typeof setTimeout> | undefined;

    const dispatch = (input: WatchInput) => {
      const next = transition(current, input);
      current = next.state;
      setState(current);
      for (const effect of next.effects) {
        switch (effect.type) {
          case "open":
            open();
            break;
          case "close":
            stream?.abort();
            stream = null;
            clearTimeout(silenceTimer);
            break;
          case "list":
            handlersRef.current.onList();
            break;
          case "schedule":
            clearTimeout(retryTimer);
            retryTimer = setTimeout(() => dispatch({ type: "retry" }), effect.delayMs);
            break;
        }
      }
    };
    const failed = () => dispatch({ type: "failed", now: Date.now(), random: Math.random() });

    const open = () => {
      const controller = new AbortController();
      stream = controller;
      const heardFrom = () => {
        clearTimeout(silenceTimer);
        silenceTimer = setTimeout(() => {
          if (stream === controller) failed();
        }, SILENCE_LIMIT_MS);
      };
      heardFrom();
      void (async () => {
        try {
          for await (const message of api.sync.watchTasks({}, { signal: controller.signal })) {
            if (stream !== controller) return;
            heardFrom();
            if (current.kind === "connecting") dispatch({ type: "opened", now: Date.now() });
            const item = message.item;
            if (item.case === "taskEvent") handlersRef.current.onEvent(item.value);
            else if (item.case === "reminderDue") handlersRef.current.onReminder(item.value);
            else if (item.case === "resyncRequired") dispatch({ type: "resync" });
          }
        } catch (error) {
          if (stream !== controller) return;
          if (ConnectError.from(error).code === Code.Unauthenticated) {
            // The access token expired while the stream was open: refresh before reopening.
            try {
              await session.refresh();
            } catch {
              return; // the session ended; the app shows sign-in
            }
          }
        }
        if (stream === controller) failed();
      })();
    };

    const online = () => dispatch({ type: "online" });
    const offline = () => dispatch({ type: "offline" });
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    dispatch({ type: "start", online: navigator.onLine });
    return () => {
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      clearTimeout(retryTimer);
      dispatch({ type: "stop" });
    };
  }, []);

  return state;
}
