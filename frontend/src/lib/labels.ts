// Words for the proto enums, as the app shows them.

import { Priority, RecurrencePreset } from "../gen/todo/v1/task_pb";
import { TaskSortField as SortField } from "../gen/todo/v1/task_service_pb";
import { ActorKind, TaskEventType } from "../gen/todo/v1/events_pb";

export const PRIORITIES: [Priority, string][] = [
  [Priority.NONE, "None"],
  [Priority.LOW, "Low"],
  [Priority.MEDIUM, "Medium"],
  [Priority.HIGH, "High"],
  [Priority.URGENT, "Urgent"],
];

export function priorityLabel(priority: Priority): string {
  return PRIORITIES.find(([p]) => p === priority)?.[1] ?? "None";
}

export const PRESETS: [RecurrencePreset, string][] = [
  [RecurrencePreset.DAILY, "Every day"],
  [RecurrencePreset.WEEKDAYS, "Every weekday (Mon–Fri)"],
  [RecurrencePreset.WEEKLY, "Every week"],
  [RecurrencePreset.MONTHLY, "Every month"],
  [RecurrencePreset.YEARLY, "Every year"],
];

export const SORTS: [SortField, string][] = [
  [SortField.CREATE_TIME, "Created"],
  [SortField.DUE_TIME, "Due date"],
  [SortField.PRIORITY, "Priority"],
  [SortField.UPDATE_TIME, "Last changed"],
  [SortField.TITLE, "Title"],
];

export function eventLabel(type: TaskEventType): string {
  switch (type) {
    case TaskEventType.CREATED:
      return "Created";
    case TaskEventType.UPDATED:
      return "Edited";
    case TaskEventType.COMPLETED:
      return "Completed";
    case TaskEventType.REOPENED:
      return "Reopened";
    case TaskEventType.DELETED:
      return "Deleted";
    default:
      return "Changed";
  }
}

export function actorLabel(kind: ActorKind, id: string, userId: string): string {
  if (kind === ActorKind.USER) return id === userId ? "you" : "another user";
  if (kind === ActorKind.SERVICE) return `the ${id} service`;
  return "unknown";
}

