// Short messages at the bottom of the screen, read out by screen readers, each with an optional
// action (such as Undo).

import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";

export interface ToastInput {
  message: string;
  action?: { label: string; run: () => void };
  /** How long it stays, in ms; default 5 s. */
  durationMs?: number;
  kind?: "info" | "error" | "reminder";
}
interface Toast extends ToastInput {
  id: number;
}

const ToastContext = createContext<(toast: ToastInput) => void>(() => {});

/** Shows a toast. */
export function useToast(): (toast: ToastInput) => void {
  return useContext(ToastContext);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((all) => all.filter((t) => t.id !== id)), []);
  const show = useCallback(
    (input: ToastInput) => {
      const id = nextId.current++;
      setToasts((all) => [...all.slice(-3), { ...input, id }]);
      setTimeout(() => dismiss(id), input.durationMs ?? 5000);
    },
    [dismiss],
  );
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" aria-live="polite" aria-label="Messages">
        {toasts.map((toast) => (
          <div key={toast.id} className={`toast toast-${toast.kind ?? "info"}`} role="status">
            <span>{toast.message}</span>
            {toast.action && (
              <button
                type="button"
                onClick={() => {
                  toast.action?.run();
                  dismiss(toast.id);
                }}
              >
                {toast.action.label}
              </button>
            )}
            <button type="button" className="toast-close" aria-label="Dismiss message" onClick={() => dismiss(toast.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
