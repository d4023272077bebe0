// The app: sign-in until there is a session, then the task screen.

import { useEffect, useState } from "react";
import { session } from "./api";
import type { StoredSession } from "./lib/session";
import { AuthScreen } from "./components/AuthScreen";
import { TaskScreen } from "./components/TaskScreen";
import { ToastProvider } from "./components/Toasts";

export function App() {
  const [current, setCurrent] = useState<StoredSession | null>(session.value);
  const [reason, setReason] = useState<string>();
  useEffect(
    () =>
      session.subscribe((next, why) => {
        setCurrent(next);
        setReason(why);
      }),
    [],
  );
  return (
    <ToastProvider>
      {current ? <TaskScreen key={current.user.id} user={current.user} /> : <AuthScreen reason={reason} />}
    </ToastProvider>
  );
}
