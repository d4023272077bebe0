// The notifications panel: reminders that fired, newest first, with the unread count.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Notification } from "../gen/todo/v1/notification_service_pb";
import { formatMoment } from "../lib/time";

interface Props {
  items: Notification[];
  unread: number;
  onMarkAllRead: () => void;
  onClose: () => void;
}

export function NotificationsPanel({ items, unread, onMarkAllRead, onClose }: Props) {
  const canNotify = typeof Notification !== "undefined" && Notification.permission === "default";
  return (
    <section className="panel notifications" aria-label="Notifications">
      <div className="section-head">
        <h2>Notifications</h2>
        <button type="button" aria-label="Close notifications" onClick={onClose}>
          ×
        </button>
      </div>
      <div className="panel-actions">
        <button type="button" onClick={onMarkAllRead} disabled={unread === 0}>
          Mark all read
        </button>
        {canNotify && (
          <button type="button" onClick={() => void Notification.requestPermission()}>
            Allow browser notifications
          </button>
        )}
      </div>
      {items.length === 0 && <p className="muted">No reminders yet.</p>}
      <ul className="notification-list">
        {items.map((item) => (
          <li key={item.id} className={item.read ? "read" : "unread"}>
            <strong>{item.title}</strong>
            <div className="muted">
              {item.fireTime && `Reminded ${formatMoment(timestampDate(item.fireTime))}`}
              {item.late && " (late)"}
              {item.dueTime && ` · due ${formatMoment(timestampDate(item.dueTime))}`}
              {!item.read && " · unread"}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
