// The signed-in screen: header (connection, notifications, account), quick add, search,
// filters, sort, the paged list, and the editor. Live: the tab's one WatchTasks stream applies
// events by version at once and re-lists the current page shortly after.

import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { api, session } from "../api";
import { TaskEventType, type ReminderDue, type TaskEvent } from "../gen/todo/v1/events_pb";
import type { Notification } from "../gen/todo/v1/notification_service_pb";
import { TaskStatus, type Task } from "../gen/todo/v1/task_pb";
import { TagMatch, TaskSortField } from "../gen/todo/v1/task_service_pb";
import { parseTags } from "../lib/draft";
import type { StoredSession } from "../lib/session";
import { applyChange, applyListed, emptyTaskSet, reconcilePage, type TaskSet } from "../lib/taskSet";
import { formErrors, plainMessage, taskFormField } from "../lib/fieldErrors";
import { PRIORITIES, SORTS, priorityLabel } from "../lib/labels";
import { addDays, formatMoment, startOfDay } from "../lib/time";
import { useWatch } from "../useWatch";
import { ConnectionStatus } from "./ConnectionStatus";
import { BellIcon, RepeatIcon } from "./Icons";
import { NotificationsPanel } from "./Notifications";
import { TaskEditor } from "./TaskEditor";
import { useToast } from "./Toasts";

const PAGE_SIZE = 50;
/** Events are applied at once; the page is listed again this long after the last one. */
const RELIST_DELAY_MS = 150;
/** A deleted task can be brought back for this long, then it is deleted on the server. */
const UNDO_MS = 5000;

interface Filters {
  query: string;
  status: "open" | "completed" | "all";
  priority: number;
  /** Tags as typed, separated by commas or spaces. */
  tag: string;
  tagMatch: TagMatch;
  kind: "any" | "recurring" | "reminder";
  due: "any" | "today" | "week" | "overdue";
  sortBy: TaskSortField;
  descending: boolean;
}
const DEFAULT_FILTERS: Filters = {
  query: "",
  status: "open",
  priority: 0,
  tag: "",
  tagMatch: TagMatch.ANY,
  kind: "any",
  due: "any",
  sortBy: TaskSortField.CREATE_TIME,
  descending: true,
};

function listRequest(filters: Filters, pageToken: string) {
  const today = startOfDay(new Date());
  const statuses =
    filters.status === "open" ? [TaskStatus.OPEN] : filters.status === "completed" ? [TaskStatus.COMPLETED] : [];
  return {
    pageSize: PAGE_SIZE,
    pageToken,
    query: filters.query.trim(),
    sortBy: filters.sortBy,
    descending: filters.descending,
    filter: {
      statuses,
      priorities: filters.priority ? [filters.priority] : [],
      tags: parseTags(filters.tag),
      tagMatch: filters.tagMatch,
      recurring: filters.kind === "recurring" ? true : undefined,
      hasReminder: filters.kind === "reminder" ? true : undefined,
      dueAfter: filters.due === "today" || filters.due === "week" ? timestampFromDate(today) : undefined,
      dueBefore:
        filters.due === "today"
          ? timestampFromDate(addDays(today, 1))
          : filters.due === "week"
            ? timestampFromDate(addDays(today, 7))
            : undefined,
      overdue: filters.due === "overdue" ? true : undefined,
    },
  };
}

function changeOf(event: TaskEvent) {
  return {
    taskId: event.taskId,
    version: event.version,
    deleted: event.type === TaskEventType.DELETED,
    task: event.task,
  };
}

export function TaskScreen({ user }: { user: StoredSession["user"] }) {
  const toast = useToast();
  const [filters, setFilters] = useState<Filters>(DEFAULT_FILTERS);
  const [search, setSearch] = useState("");
  const [pageTokens, setPageTokens] = useState<string[]>([""]);
  const [known, setKnown] = useState<TaskSet<Task>>(emptyTaskSet);
  const [listed, setListed] = useState<Task[]>([]);
  const [total, setTotal] = useState(0);
  const [nextToken, setNextToken] = useState("");
  const [loading, setLoading] = useState(true);
  const [listError, setListError] = useState<string>();
  const [editing, setEditing] = useState<Task | "new" | null>(null);
  const [pendingDeletes, setPendingDeletes] = useState<Set<string>>(new Set());
  const [quickTitle, setQuickTitle] = useState("");
  const [quickError, setQuickError] = useState<string>();
  const [notifications, setNotifications] = useState<Notification[]>([]);
  const [unread, setUnread] = useState(0);
  const [panelOpen, setPanelOpen] = useState(false);

  const pageToken = pageTokens[pageTokens.length - 1];
  // On a phone the filters start folded, so the list is on the first screen.
  const [phone, setPhone] = useState(() => window.matchMedia("(max-width: 640px)").matches);
  useEffect(() => {
    const query = window.matchMedia("(max-width: 640px)");
    const changed = () => setPhone(query.matches);
    query.addEventListener("change", changed);
    return () => query.removeEventListener("change", changed);
  }, []);
  const listSeq = useRef(0);
  const relistTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const deleteTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const list = useCallback(async () => {
    const seq = ++listSeq.current;
    try {
      const response = await api.tasks.listTasks(listRequest(filters, pageToken));
      if (seq !== listSeq.current) return; // a newer listing was asked for
      setKnown((set) => applyListed(set, response.tasks));
      setListed(response.tasks);
      setTotal(response.totalSize);
      setNextToken(response.nextPageToken);
      setListError(undefined);
    } catch (error) {
      if (seq === listSeq.current) setListError(plainMessage(error));
    } finally {
      if (seq === listSeq.current) setLoading(false);
    }
  }, [filters, pageToken]);
  const listRef = useRef(list);
  listRef.current = list;

  const relistSoon = useCallback(() => {
    clearTimeout(relistTimer.current);
    relistTimer.current = setTimeout(() => void listRef.current(), RELIST_DELAY_MS);
  }, []);

  useEffect(() => {
    setLoading(true);
    void list();
  }, [list]);

  // Search as you type, after a short pause.
  useEffect(() => {
    const timer = setTimeout(() => {
      setFilters((f) => (f.query === search ? f : { ...f, query: search }));
      setPageTokens([""]);
    }, 250);
    return () => clearTimeout(timer);
  }, [search]);

  // Keyboard: "/" goes to search, "n" to the quick-add field (not while typing in a field).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (event.ctrlKey || event.metaKey || event.altKey || target?.closest("input, textarea, select, dialog")) return;
      const id = event.key === "/" ? "search" : event.key === "n" ? "quick-title" : "";
      if (!id) return;
      event.preventDefault();
      document.getElementById(id)?.focus();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const loadNotifications = useCallback(async () => {
    try {
      const response = await api.notifications.listNotifications({ pageSize: 50 });
      setNotifications(response.notifications);
      setUnread(response.unreadCount);
    } catch {
      // The panel keeps what it had; the connection status says when the server is away.
    }
  }, []);
  useEffect(() => {
    void loadNotifications();
  }, [loadNotifications]);

  const onReminder = useCallback(
    (reminder: ReminderDue) => {
      toast({ message: `Reminder: ${reminder.title}`, kind: "reminder", durationMs: 15_000 });
      if (typeof Notification !== "undefined" && Notification.permission === "granted") {
        new Notification("Todo Suite reminder", { body: reminder.title, tag: reminder.eventId });
      }
      // The notification service may record it a moment after sync delivers it: load twice.
      void loadNotifications();
      setTimeout(() => void loadNotifications(), 1500);
    },
    [toast, loadNotifications],
  );

  const watch = useWatch({
    onEvent: (event) => {
      setKnown((set) => applyChange(set, changeOf(event)));
      relistSoon();
    },
    onReminder,
    onList: () => void listRef.current(),
  });

  const shown = useMemo(
    () => reconcilePage(known, listed).filter((task) => !pendingDeletes.has(task.id)),
    [known, listed, pendingDeletes],
  );

  const saved = (task: Task) => {
    setKnown((set) => applyChange(set, { taskId: task.id, version: task.version, deleted: false, task }));
    relistSoon();
  };

  const quickAdd = async (event: FormEvent) => {
    event.preventDefault();
    setQuickError(undefined);
    try {
      const response = await api.tasks.createTask({ requestId: crypto.randomUUID(), title: quickTitle });
      if (response.task) saved(response.task);
      setQuickTitle("");
    } catch (error) {
      const errors = formErrors(error, taskFormField);
      setQuickError(errors.fields.title ?? errors.general ?? Object.values(errors.fields)[0]);
    }
  };

  const toggle = async (task: Task) => {
    const completing = task.status !== TaskStatus.COMPLETED;
    try {
      const response = completing
        ? await api.tasks.completeTask({ taskId: task.id, expectedVersion: task.version })
        : await api.tasks.reopenTask({ taskId: task.id, expectedVersion: task.version });
      if (response.task) saved(response.task);
      if (completing && response.task) {
        const done = response.task;
        toast({
          message: `Completed “${task.title}”`,
          action: {
            label: "Undo",
            run: () =>
              void api.tasks
                .reopenTask({ taskId: done.id, expectedVersion: done.version })
                .then((r) => r.task && saved(r.task))
                .catch((e) => toast({ message: plainMessage(e), kind: "error" })),
          },
        });
      }
    } catch (error) {
      toast({ message: plainMessage(error), kind: "error" });
      relistSoon();
    }
  };

  const commitDelete = useCallback(
    (task: Task) => {
      deleteTimers.current.delete(task.id);
      void api.tasks
        .deleteTask({ taskId: task.id })
        .then(() => {
          setKnown((set) => applyChange(set, { taskId: task.id, version: task.version + 1n, deleted: true }));
          relistSoon();
        })
        .catch((error) => toast({ message: `“${task.title}” was not deleted: ${plainMessage(error)}`, kind: "error" }))
        .finally(() =>
          setPendingDeletes((pending) => {
            const next = new Set(pending);
            next.delete(task.id);
            return next;
          }),
        );
    },
    [relistSoon, toast],
  );

  const remove = (task: Task) => {
    setPendingDeletes((pending) => new Set(pending).add(task.id));
    deleteTimers.current.set(
      task.id,
      setTimeout(() => commitDelete(task), UNDO_MS),
    );
    toast({
      message: `Deleted “${task.title}”`,
      durationMs: UNDO_MS,
      action: {
        label: "Undo",
        run: () => {
          clearTimeout(deleteTimers.current.get(task.id));
          deleteTimers.current.delete(task.id);
          setPendingDeletes((pending) => {
            const next = new Set(pending);
            next.delete(task.id);
            return next;
          });
        },
      },
    });
  };

  const markAllRead = async () => {
    const ids = notifications.filter((n) => !n.read).map((n) => n.id);
    if (ids.length === 0) return;
    try {
      await api.notifications.markRead({ notificationIds: ids });
    } catch (error) {
      toast({ message: plainMessage(error), kind: "error" });
    }
    void loadNotifications();
  };

  const signOut = async () => {
    const refreshToken = session.value?.refreshToken ?? "";
    try {
      await api.auth.signOut({ refreshToken });
    } catch {
      // Signed out here either way; the refresh token expires on its own.
    }
    session.signedOut();
  };

  const setFilter = <K extends keyof Filters>(key: K, value: Filters[K]) => {
    setFilters((f) => ({ ...f, [key]: value }));
    setPageTokens([""]);
  };

  const page = pageTokens.length;
  const first = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = Math.min(total, (page - 1) * PAGE_SIZE + listed.length);
  const now = new Date();

  return (
    <div className="app">
      <header className="topbar">
        <h1>Todo Suite</h1>
        <ConnectionStatus state={watch} />
        <span className="spacer" />
        <button
          type="button"
          className="bell"
          aria-label={`Notifications, ${unread} unread`}
          aria-expanded={panelOpen}
          onClick={() => setPanelOpen((open) => !open)}
        >
          <BellIcon />
          {unread > 0 && <span className="badge">{unread}</span>}
        </button>
        <span className="user" title={user.email}>
          {user.displayName}
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      {panelOpen && (
        <NotificationsPanel
          items={notifications}
          unread={unread}
          onMarkAllRead={() => void markAllRead()}
          onClose={() => setPanelOpen(false)}
        />
      )}
      <main className="tasks">
        <form className="quick-add" onSubmit={quickAdd} noValidate aria-label="Quick add">
          <div className="field">
            <label htmlFor="quick-title" className="visually-hidden">
              New task title
            </label>
            <input
              id="quick-title"
              placeholder="Add a task…"
              aria-keyshortcuts="n"
              value={quickTitle}
              onChange={(e) => setQuickTitle(e.target.value)}
              aria-invalid={quickError ? true : undefined}
              aria-describedby={quickError ? "quick-title-error" : undefined}
            />
            {quickError && (
              <div id="quick-title-error" className="field-error" role="alert">
                {quickError}
              </div>
            )}
          </div>
          <button type="submit" className="primary">
            Add
          </button>
          <button type="button" onClick={() => setEditing("new")}>
            More…
          </button>
        </form>

        <section className="filters" aria-label="Search and filters">
          <div className="field search">
            <label htmlFor="search">Search</label>
            <input
              id="search"
              type="search"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              aria-keyshortcuts="/"
            />
          </div>
          <details className="more-filters" open={!phone}>
            <summary>Filters and sort</summary>
            <div className="filter-fields">
          <div className="field">
            <label htmlFor="f-status">Status</label>
            <select id="f-status" value={filters.status} onChange={(e) => setFilter("status", e.target.value as Filters["status"])}>
              <option value="open">Open</option>
              <option value="completed">Completed</option>
              <option value="all">All</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="f-priority">Priority</label>
            <select id="f-priority" value={filters.priority} onChange={(e) => setFilter("priority", Number(e.target.value))}>
              <option value={0}>Any</option>
              {PRIORITIES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="f-tag">Tag</label>
            <input id="f-tag" value={filters.tag} onChange={(e) => setFilter("tag", e.target.value)} size={8} />
          </div>
          {parseTags(filters.tag).length > 1 && (
            <div className="field">
              <label htmlFor="f-tag-match">Tags needed</label>
              <select id="f-tag-match" value={filters.tagMatch} onChange={(e) => setFilter("tagMatch", Number(e.target.value))}>
                <option value={TagMatch.ANY}>Any of them</option>
                <option value={TagMatch.ALL}>All of them</option>
              </select>
            </div>
          )}
          <div className="field">
            <label htmlFor="f-kind">Kind</label>
            <select id="f-kind" value={filters.kind} onChange={(e) => setFilter("kind", e.target.value as Filters["kind"])}>
              <option value="any">Any</option>
              <option value="recurring">Repeating</option>
              <option value="reminder">With a reminder</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="f-due">Due</label>
            <select id="f-due" value={filters.due} onChange={(e) => setFilter("due", e.target.value as Filters["due"])}>
              <option value="any">Any time</option>
              <option value="today">Today</option>
              <option value="week">Next 7 days</option>
              <option value="overdue">Overdue</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="f-sort">Sort by</label>
            <select id="f-sort" value={filters.sortBy} onChange={(e) => setFilter("sortBy", Number(e.target.value))}>
              {SORTS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <button
            type="button"
            className="direction"
            aria-label={filters.descending ? "Sort descending (change to ascending)" : "Sort ascending (change to descending)"}
            onClick={() => setFilter("descending", !filters.descending)}
          >
            {filters.descending ? "↓" : "↑"}
          </button>
            </div>
          </details>
        </section>

        {listError && (
          <p className="form-error" role="alert">
            {listError}{" "}
            <button type="button" onClick={() => void list()}>
              Retry
            </button>
          </p>
        )}
        <p className="count" aria-live="polite">
          {loading ? "Loading…" : total === 0 ? "No tasks match." : `${first}–${last} of ${total}`}
        </p>
        <ul className="task-list" aria-label="Tasks">
          {shown.map((task) => {
            const due = task.dueTime ? timestampDate(task.dueTime) : null;
            const overdue = due !== null && task.status === TaskStatus.OPEN && due < now;
            const done = task.status === TaskStatus.COMPLETED;
            return (
              <li key={task.id} className={`task ${done ? "done" : ""}`} aria-label={task.title} data-task-id={task.id}>
                <input
                  type="checkbox"
                  checked={done}
                  aria-label={done ? `Reopen “${task.title}”` : `Complete “${task.title}”`}
                  onChange={() => void toggle(task)}
                />
                <button type="button" className="task-title" onClick={() => setEditing(task)} aria-label={`Edit “${task.title}”`}>
                  {task.title}
                </button>
                <span className="task-meta">
                  {due && (
                    <span className={overdue ? "due overdue" : "due"}>
                      {overdue ? "Overdue · " : ""}
                      {formatMoment(due, now)}
                    </span>
                  )}
                  {task.priority > 1 && <span className={`prio prio-${task.priority}`}>{priorityLabel(task.priority)}</span>}
                  {task.recurrence && (
                    <span className="icon" title="Repeats" role="img" aria-label="Repeats">
                      <RepeatIcon />
                    </span>
                  )}
                  {task.reminder && (
                    <span className="icon" title="Has a reminder" role="img" aria-label="Has a reminder">
                      <BellIcon />
                    </span>
                  )}
                  {task.tags.map((tag) => (
                    <span key={tag} className="tag">
                      #{tag}
                    </span>
                  ))}
                </span>
                <button type="button" className="delete" aria-label={`Delete “${task.title}”`} onClick={() => remove(task)}>
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={page === 1} onClick={() => setPageTokens((t) => t.slice(0, -1))}>
            Previous
          </button>
          <span>Page {page}</span>
          <button type="button" disabled={!nextToken} onClick={() => setPageTokens((t) => [...t, nextToken])}>
            Next
          </button>
        </nav>
      </main>
      {editing && (
        <TaskEditor
          task={editing === "new" ? undefined : (known.live.get(editing.id) ?? editing)}
          userId={user.id}
          onSaved={(task) => {
            saved(task);
            setEditing(null);
          }}
          onClose={() => setEditing(null)}
        />
      )}
    </div>
  );
}
