// The live connection's state, in words.

import { useEffect, useState } from "react";
import type { WatchState } from "../lib/watchMachine";

export function ConnectionStatus({ state }: { state: WatchState }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state.kind !== "waiting") return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [state]);
  let text: string;
  switch (state.kind) {
    case "live":
      text = "Live";
      break;
    case "connecting":
      text = "Connecting…";
      break;
    case "waiting":
      text = `Reconnecting in ${Math.max(1, Math.ceil((state.retryAt - now) / 1000))} s`;
      break;
    case "offline":
      text = "Offline";
      break;
    default:
      text = "Not connected";
  }
  return (
    <span className={`status status-${state.kind}`} role="status" aria-label={`Connection: ${text}`} data-state={state.kind}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
