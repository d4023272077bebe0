// The task editor: a modal dialog to create or edit a task, with each server validation error
// beside its field, and the task's history.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { api } from "../api";
import { RecurrenceAnchor, type Task } from "../gen/todo/v1/task_pb";
import {
  EMPTY_DRAFT,
  REMINDER_OFFSETS,
  changedPaths,
  draftOf,
  parseTags,
  recurrenceOf,
  reminderOf,
  type Draft,
} from "../lib/draft";
import { formErrors, taskFormField, type FormErrors } from "../lib/fieldErrors";
import { PRESETS, PRIORITIES } from "../lib/labels";
import { fromLocalInput, userTimeZone } from "../lib/time";
import { Field } from "./Field";
import { History } from "./History";
import { RrulePreview } from "./RrulePreview";
import { PRESET_RULES } from "../lib/rrulePreview";

interface EditorProps {
  /** The task to edit; undefined to create one. */
  task?: Task;
  userId: string;
  onSaved: (task: Task) => void;
  onClose: () => void;
}

export function TaskEditor({ task, userId, onSaved, onClose }: EditorProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  // The task as it was when the editor opened: the update sends only what the user changed
  // since, and fails (Aborted) instead of overwriting a change made elsewhere meanwhile.
  const [original] = useState(task);
  const [initial] = useState(() => (task ? draftOf(task) : EMPTY_DRAFT));
  const [draft, setDraft] = useState<Draft>(initial);
  const [errors, setErrors] = useState<FormErrors>({ fields: {} });
  const [busy, setBusy] = useState(false);
  const [showHistory, setShowHistory] = useState(false);
  const requestId = useRef(crypto.randomUUID());

  // Modal while open; on closing, focus goes back to what opened it (if it is still there).
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    // showModal focuses the first control (Close); the title is where typing starts.
    element?.querySelector<HTMLInputElement>("input")?.focus();
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({ fields: {} });
    const due = fromLocalInput(draft.due);
    try {
      if (!original) {
        const response = await api.tasks.createTask({
          requestId: requestId.current,
          title: draft.title,
          description: draft.description,
          priority: draft.priority,
          tags: parseTags(draft.tags),
          dueTime: due ? timestampFromDate(due) : undefined,
          timeZone: due ? userTimeZone() : "",
          recurrence: recurrenceOf(draft),
          reminder: reminderOf(draft),
        });
        if (response.task) onSaved(response.task);
      } else {
        const paths = changedPaths(initial, draft);
        if (paths.length === 0) {
          onClose();
          return;
        }
        const response = await api.tasks.updateTask({
          task: {
            id: original.id,
            title: draft.title,
            description: draft.description,
            priority: draft.priority,
            tags: parseTags(draft.tags),
            dueTime: due ? timestampFromDate(due) : undefined,
            timeZone: due ? userTimeZone() : "",
            recurrence: recurrenceOf(draft),
            reminder: reminderOf(draft),
          },
          updateMask: { paths },
          expectedVersion: original.version,
        });
        if (response.task) onSaved(response.task);
      }
    } catch (error) {
      setErrors(formErrors(error, taskFormField));
    } finally {
      setBusy(false);
    }
  };

  const repeats = draft.repeat !== "none";
  return (
    <dialog ref={dialog} className="editor" aria-labelledby="editor-title" onClose={onClose} onCancel={onClose}>
      <form onSubmit={submit} noValidate>
        <header className="editor-head">
          <h2 id="editor-title">{task ? "Edit task" : "New task"}</h2>
          <button type="button" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <Field label="Title" error={errors.fields.title}>
          <input value={draft.title} onChange={(e) => set("title", e.target.value)} aria-required="true" />
        </Field>
        <Field label="Description" error={errors.fields.description}>
          <textarea rows={3} value={draft.description} onChange={(e) => set("description", e.target.value)} />
        </Field>
        <div className="row">
          <Field label="Priority" error={errors.fields.priority}>
            <select value={draft.priority} onChange={(e) => set("priority", Number(e.target.value))}>
              {PRIORITIES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Tags" error={errors.fields.tags} hint="Separated by commas or spaces.">
            <input value={draft.tags} onChange={(e) => set("tags", e.target.value)} />
          </Field>
        </div>
        <Field label="Due" error={errors.fields.due} hint={`Your time zone: ${userTimeZone()}`}>
          <input type="datetime-local" value={draft.due} onChange={(e) => set("due", e.target.value)} />
        </Field>
        <div className="row">
          <Field label="Repeat" error={errors.fields.recurrence}>
            <select value={draft.repeat} onChange={(e) => set("repeat", e.target.value)}>
              <option value="none">Does not repeat</option>
              {PRESETS.map(([value, label]) => (
                <option key={value} value={String(value)}>
                  {label}
                </option>
              ))}
              <option value="custom">Custom rule…</option>
            </select>
          </Field>
          {repeats && (
            <Field label="Next one counted from">
              <select value={draft.anchor} onChange={(e) => set("anchor", Number(e.target.value))}>
                <option value={RecurrenceAnchor.DUE_DATE}>The due date</option>
                <option value={RecurrenceAnchor.COMPLETION}>When I complete it</option>
              </select>
            </Field>
          )}
        </div>
        {repeats && draft.repeat !== "custom" && draft.due && (
          <RrulePreview rule={PRESET_RULES[Number(draft.repeat)] ?? ""} due={draft.due} />
        )}
        {draft.repeat === "custom" && (
          <>
            <Field label="Rule (RFC 5545 RRULE)" hint="For example FREQ=WEEKLY;BYDAY=MO,WE or FREQ=MONTHLY;BYDAY=-1FR">
              <input value={draft.rrule} onChange={(e) => set("rrule", e.target.value)} spellCheck={false} />
            </Field>
            <RrulePreview rule={draft.rrule} due={draft.due} />
          </>
        )}
        <div className="row">
          <Field label="Reminder" error={errors.fields.reminder}>
            <select value={draft.reminder} onChange={(e) => set("reminder", e.target.value)}>
              <option value="none">No reminder</option>
              {REMINDER_OFFSETS.map(([key, label]) => (
                <option key={key} value={key}>
                  {label}
                </option>
              ))}
              <option value="time">At a time…</option>
            </select>
          </Field>
          {draft.reminder === "time" && (
            <Field label="Remind at">
              <input type="datetime-local" step={1} value={draft.remindAt} onChange={(e) => set("remindAt", e.target.value)} />
            </Field>
          )}
        </div>
        {errors.general && (
          <p className="form-error" role="alert">
            {errors.general}
          </p>
        )}
        <footer className="editor-actions">
          {task && (
            <button type="button" onClick={() => setShowHistory((s) => !s)} aria-expanded={showHistory}>
              {showHistory ? "Hide history" : "Show history"}
            </button>
          )}
          <span className="spacer" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {task ? "Save" : "Add task"}
          </button>
        </footer>
      </form>
      {task && showHistory && <History taskId={task.id} version={task.version} userId={userId} />}
    </dialog>
  );
}
