// The task editor's form state, and the requests it becomes.

import { create } from "@bufbuild/protobuf";
import { DurationSchema, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Priority,
  RecurrenceAnchor,
  RecurrencePreset,
  type Recurrence,
  type Reminder,
  type Task,
} from "../gen/todo/v1/task_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RecurrenceSchema, ReminderSchema } from "../gen/todo/v1/task_pb";
import { fromLocalInput, toLocalInput } from "./time";

/** The reminder choices of the editor: none, at a moment, or this long before the due time. */
export const REMINDER_OFFSETS: [string, string, number][] = [
  ["due", "At the due time", 0],
  ["5m", "5 minutes before", 300],
  ["15m", "15 minutes before", 900],
  ["1h", "1 hour before", 3600],
  ["1d", "1 day before", 86_400],
];

export interface Draft {
  title: string;
  description: string;
  priority: Priority;
  /** Tags as typed: separated by commas or spaces. */
  tags: string;
  /** An `<input type="datetime-local">` value, or "". */
  due: string;
  /** "none", a RecurrencePreset number, or "custom". */
  repeat: string;
  rrule: string;
  anchor: RecurrenceAnchor;
  /** "none", "time", or a key of REMINDER_OFFSETS. */
  reminder: string;
  remindAt: string;
}

export const EMPTY_DRAFT: Draft = {
  title: "",
  description: "",
  priority: Priority.NONE,
  tags: "",
  due: "",
  repeat: "none",
  rrule: "",
  anchor: RecurrenceAnchor.DUE_DATE,
  reminder: "none",
  remindAt: "",
};

/** The editor's state for an existing task. */
export function draftOf(task: Task): Draft {
  const rule = task.recurrence?.rule;
  const trigger = task.reminder?.trigger;
  let reminder = "none";
  let remindAt = "";
  if (trigger?.case === "remindTime") {
    reminder = "time";
    remindAt = toLocalInput(timestampDate(trigger.value));
  } else if (trigger?.case === "beforeDue") {
    const seconds = Number(trigger.value.seconds);
    reminder = REMINDER_OFFSETS.find(([, , s]) => s === seconds)?.[0] ?? "15m";
  }
  return {
    title: task.title,
    description: task.description,
    priority: task.priority === Priority.UNSPECIFIED ? Priority.NONE : task.priority,
    tags: task.tags.join(", "),
    due: task.dueTime ? toLocalInput(timestampDate(task.dueTime)) : "",
    repeat: rule?.case === "preset" ? String(rule.value) : rule?.case === "rrule" ? "custom" : "none",
    rrule: rule?.case === "rrule" ? rule.value : "",
    anchor: task.recurrence?.anchor || RecurrenceAnchor.DUE_DATE,
    reminder,
    remindAt,
  };
}

/** The tags of the draft: lower case, without duplicates or empty ones. */
export function parseTags(text: string): string[] {
  const tags = text
    .split(/[\s,]+/)
    .map((tag) => tag.replace(/^#/, "").toLowerCase())
    .filter((tag) => tag.length > 0);
  return [...new Set(tags)];
}

export function recurrenceOf(draft: Draft): MessageInitShape<typeof RecurrenceSchema> | undefined {
  if (draft.repeat === "none") return undefined;
  if (draft.repeat === "custom") {
    return { rule: { case: "rrule", value: draft.rrule.trim().replace(/^RRULE:/i, "") }, anchor: draft.anchor };
  }
  return { rule: { case: "preset", value: Number(draft.repeat) as RecurrencePreset }, anchor: draft.anchor };
}

export function reminderOf(draft: Draft): MessageInitShape<typeof ReminderSchema> | undefined {
  if (draft.reminder === "none") return undefined;
  if (draft.reminder === "time") {
    const at = fromLocalInput(draft.remindAt);
    return at ? { trigger: { case: "remindTime", value: timestampFromDate(at) } } : undefined;
  }
  const seconds = REMINDER_OFFSETS.find(([key]) => key === draft.reminder)?.[2] ?? 0;
  return { trigger: { case: "beforeDue", value: create(DurationSchema, { seconds: BigInt(seconds) }) } };
}

/** The fields of the draft that differ from `before`, as UpdateTask mask paths. */
export function changedPaths(before: Draft, after: Draft): string[] {
  const paths: string[] = [];
  if (before.title !== after.title) paths.push("title");
  if (before.description !== after.description) paths.push("description");
  if (before.priority !== after.priority) paths.push("priority");
  if (parseTags(before.tags).join() !== parseTags(after.tags).join()) paths.push("tags");
  if (before.due !== after.due) paths.push("due_time", "time_zone");
  if (
    before.repeat !== after.repeat ||
    (after.repeat === "custom" && before.rrule !== after.rrule) ||
    (after.repeat !== "none" && before.anchor !== after.anchor)
  ) {
    paths.push("recurrence");
  }
  if (before.reminder !== after.reminder || (after.reminder === "time" && before.remindAt !== after.remindAt)) {
    paths.push("reminder");
  }
  return paths;
}

export type { Recurrence, Reminder };
