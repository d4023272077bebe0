// Turns an error of the API into what a form shows: a message beside each field a
// google.rpc.BadRequest names, and one plain sentence for the rest.

import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** One violation of a google.rpc.BadRequest. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** What a form shows for an error. */
export interface FormErrors {
  /** Messages by form field. */
  fields: Record<string, string>;
  /** A message for the whole form, when something is not about a shown field. */
  general?: string;
}

const BAD_REQUEST_TYPE = "google.rpc.BadRequest";

/**
 * Decodes a google.rpc.BadRequest: `repeated FieldViolation field_violations = 1`, where
 * FieldViolation has `string field = 1; string description = 2` (the rest is skipped). Decoded by
 * hand, so the app needs no copy of google/rpc/error_details.proto.
 */
export function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    const inner = new BinaryReader(reader.bytes());
    const violation: FieldViolation = { field: "", description: "" };
    while (inner.pos < inner.len) {
      const [no, type] = inner.tag();
      if (no === 1 && type === WireType.LengthDelimited) violation.field = inner.string();
      else if (no === 2 && type === WireType.LengthDelimited) violation.description = inner.string();
      else inner.skip(type);
    }
    violations.push(violation);
  }
  return violations;
}

/** The BadRequest violations an error carries; empty when it carries none. */
export function violationsOf(error: unknown): FieldViolation[] {
  if (!(error instanceof ConnectError)) return [];
  const violations: FieldViolation[] = [];
  for (const detail of error.details) {
    if ("type" in detail && detail.type === BAD_REQUEST_TYPE) {
      violations.push(...decodeBadRequest(detail.value));
    }
  }
  return violations;
}

/**
 * The form field of a task's proto field path: "title", "task.title", "tags[3]",
 * "recurrence.rrule", "reminder.before_due", "due_time" and "time_zone" map to the editor's
 * fields; anything else to undefined.
 */
export function taskFormField(path: string): string | undefined {
  const withoutTask = path.startsWith("task.") ? path.slice("task.".length) : path;
  const head = withoutTask.split(/[.[]/, 1)[0];
  switch (head) {
    case "title":
    case "description":
    case "priority":
    case "tags":
    case "recurrence":
    case "reminder":
      return head;
    case "due_time":
    case "time_zone":
      return "due";
    default:
      return undefined;
  }
}

/** The form field of an account field path: email, password, display_name. */
export function accountFormField(path: string): string | undefined {
  return ["email", "password", "display_name"].includes(path) ? path : undefined;
}

/** A plain sentence for an error that is not about a field. */
export function plainMessage(error: unknown): string {
  const connectError = ConnectError.from(error);
  switch (connectError.code) {
    case Code.Unavailable:
    case Code.Unknown:
      return "The server cannot be reached. Check your connection; your change was not saved.";
    case Code.DeadlineExceeded:
      return "The server took too long to answer. Try again.";
    case Code.Unauthenticated:
      return "Your session has ended. Sign in again.";
    case Code.PermissionDenied:
      return "You are not allowed to do that.";
    case Code.NotFound:
      return "That task no longer exists.";
    case Code.Aborted:
    case Code.FailedPrecondition:
      return "The task changed elsewhere in the meantime. Its latest version is shown; try again.";
    case Code.ResourceExhausted:
      return connectError.rawMessage || "Too many requests or too many tasks. Wait a moment and try again.";
    default:
      return connectError.rawMessage || "Something went wrong.";
  }
}

/**
 * The errors a form shows: each violation beside its field (the first per field wins), the
 * violations of fields the form does not show and any other error as the general message.
 */
export function formErrors(error: unknown, fieldOf: (path: string) => string | undefined): FormErrors {
  const violations = violationsOf(error);
  if (violations.length === 0) {
    return { fields: {}, general: plainMessage(error) };
  }
  const fields: Record<string, string> = {};
  const unplaced: string[] = [];
  for (const { field, description } of violations) {
    const formField = fieldOf(field);
    if (formField === undefined) unplaced.push(`${field}: ${description}`);
    else fields[formField] ??= description;
  }
  return unplaced.length > 0 ? { fields, general: unplaced.join("; ") } : { fields };
}
