import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { accountFormField, decodeBadRequest, formErrors, taskFormField } from "./fieldErrors";

/** A google.rpc.BadRequest as the gateway sends it (tonic-types encodes the same fields). */
function badRequest(violations: [string, string][]): Uint8Array {
  const writer = new BinaryWriter();
  for (const [field, description] of violations) {
    writer.tag(1, 2).fork().tag(1, 2).string(field).tag(2, 2).string(description).tag(3, 2).string("REASON").join();
  }
  return writer.finish();
}

function invalidArgument(violations: [string, string][]): ConnectError {
  // As connect-web leaves them after reading grpc-status-details-bin: type name and bytes.
  const error = new ConnectError("invalid task", Code.InvalidArgument);
  error.details.push({ type: "google.rpc.BadRequest", value: badRequest(violations) });
  return error;
}

describe("decodeBadRequest", () => {
  it("reads every violation in order and skips unknown fields", () => {
    const bytes = badRequest([
      ["title", "title must not be empty"],
      ["tags[1]", "tag is too long"],
    ]);
    expect(decodeBadRequest(bytes)).toEqual([
      { field: "title", description: "title must not be empty" },
      { field: "tags[1]", description: "tag is too long" },
    ]);
  });
});

describe("taskFormField", () => {
  it("maps proto field paths to the editor's fields", () => {
    const cases: [string, string | undefined][] = [
      ["title", "title"],
      ["task.title", "title"],
      ["tags[3]", "tags"],
      ["recurrence.rrule", "recurrence"],
      ["reminder.before_due", "reminder"],
      ["reminder", "reminder"],
      ["due_time", "due"],
      ["time_zone", "due"],
      ["request_id", undefined],
      ["titles", undefined],
    ];
    for (const [path, field] of cases) expect(taskFormField(path), path).toBe(field);
  });
});

describe("formErrors", () => {
  it("puts each violation beside its field and the others in the general message", () => {
    const error = invalidArgument([
      ["title", "title must not be empty"],
      ["title", "second message for the same field"],
      ["reminder.remind_time", "reminder time is in the past"],
      ["request_id", "too long"],
    ]);
    expect(formErrors(error, taskFormField)).toEqual({
      fields: { title: "title must not be empty", reminder: "reminder time is in the past" },
      general: "request_id: too long",
    });
  });

  it("says a network failure plainly, with no field errors", () => {
    const error = new ConnectError("fetch failed", Code.Unavailable);
    const shown = formErrors(error, taskFormField);
    expect(shown.fields).toEqual({});
    expect(shown.general).toMatch(/cannot be reached/);
  });

  it("maps the account form's fields", () => {
    const error = invalidArgument([
      ["email", "not an email address"],
      ["password", "at least 10 characters"],
    ]);
    expect(formErrors(error, accountFormField)).toEqual({
      fields: { email: "not an email address", password: "at least 10 characters" },
    });
  });
});
