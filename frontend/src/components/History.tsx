// A task's history from the audit service: who changed what, with each field's before and after.

import { useCallback, useEffect, useState } from "react";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { api } from "../api";
import type { TaskHistoryEntry } from "../gen/todo/v1/audit_service_pb";
import { actorLabel, eventLabel } from "../lib/labels";
import { plainMessage } from "../lib/fieldErrors";
import { formatMoment } from "../lib/time";

function shown(json: string): string {
  if (json === "" || json === "null") return "(none)";
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value === "string") return `“${value}”`;
    return JSON.stringify(value);
  } catch {
    return json;
  }
}

export function History({ taskId, version, userId }: { taskId: string; version: bigint; userId: string }) {
  const [entries, setEntries] = useState<TaskHistoryEntry[] | null>(null);
  const [error, setError] = useState<string>();

  const load = useCallback(async () => {
    try {
      const response = await api.audit.listTaskHistory({ taskId, pageSize: 200 });
      setEntries(response.entries);
      setError(undefined);
    } catch (e) {
      setError(plainMessage(e));
    }
  }, [taskId]);

  // Reloaded when the task's version moves; the audit service records events a moment later, so
  // load again shortly after too.
  useEffect(() => {
    void load();
    const later = setTimeout(() => void load(), 1500);
    return () => clearTimeout(later);
  }, [load, version]);

  return (
    <section className="history" aria-label="History">
      <div className="section-head">
        <h3>History</h3>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error && <p className="form-error">{error}</p>}
      {entries === null && !error && <p>Loading…</p>}
      {entries?.length === 0 && <p>No changes recorded yet.</p>}
      <ol className="history-list">
        {entries?.map((entry) => (
          <li key={entry.eventId}>
            <div>
              <strong>{eventLabel(entry.type)}</strong> by {actorLabel(entry.actor?.kind ?? 0, entry.actor?.id ?? "", userId)}
              {entry.occurTime && <span className="muted"> · {formatMoment(timestampDate(entry.occurTime))}</span>}
              <span className="muted"> · v{String(entry.version)}</span>
            </div>
            {entry.changes.length > 0 && (
              <ul className="changes">
                {entry.changes.map((change) => (
                  <li key={change.field}>
                    <code>{change.field}</code>: {shown(change.beforeJson)} → {shown(change.afterJson)}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
