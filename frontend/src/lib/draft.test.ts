import { describe, expect, it } from "vitest";
import { EMPTY_DRAFT, changedPaths, parseTags, recurrenceOf, reminderOf, type Draft } from "./draft";
import { Priority, RecurrencePreset } from "../gen/todo/v1/task_pb";

describe("parseTags", () => {
  it("splits on commas and spaces, lower-cases, drops # and duplicates", () => {
    expect(parseTags(" Work, #home  work,,errands ")).toEqual(["work", "home", "errands"]);
    expect(parseTags("")).toEqual([]);
  });
});

describe("changedPaths", () => {
  const base: Draft = { ...EMPTY_DRAFT, title: "a", tags: "work, home", due: "2030-01-01T09:00", repeat: String(RecurrencePreset.DAILY) };
  it("names only the fields that changed, as UpdateTask mask paths", () => {
    const cases: [string, Partial<Draft>, string[]][] = [
      ["nothing", {}, []],
      ["title", { title: "b" }, ["title"]],
      ["priority", { priority: Priority.HIGH }, ["priority"]],
      ["tags, the same set typed differently", { tags: "#Work home" }, []],
      ["tags", { tags: "work" }, ["tags"]],
      ["due moves the zone too", { due: "2030-01-02T09:00" }, ["due_time", "time_zone"]],
      ["repeat", { repeat: "none" }, ["recurrence"]],
      ["reminder", { reminder: "15m" }, ["reminder"]],
    ];
    for (const [name, change, paths] of cases) {
      expect(changedPaths(base, { ...base, ...change }), name).toEqual(paths);
    }
  });
});

describe("recurrenceOf and reminderOf", () => {
  it("builds a preset, a custom rule without its RRULE: prefix, or nothing", () => {
    expect(recurrenceOf(EMPTY_DRAFT)).toBeUndefined();
    expect(recurrenceOf({ ...EMPTY_DRAFT, repeat: "2" })?.rule).toEqual({ case: "preset", value: RecurrencePreset.WEEKDAYS });
    expect(recurrenceOf({ ...EMPTY_DRAFT, repeat: "custom", rrule: " RRULE:FREQ=MONTHLY;BYDAY=-1FR " })?.rule).toEqual({
      case: "rrule",
      value: "FREQ=MONTHLY;BYDAY=-1FR",
    });
  });

  it("builds an offset before the due time, or a moment", () => {
    const before = reminderOf({ ...EMPTY_DRAFT, reminder: "1h" });
    expect(before?.trigger?.case).toBe("beforeDue");
    expect(before?.trigger?.case === "beforeDue" && before.trigger.value.seconds).toBe(3600n);
    const at = reminderOf({ ...EMPTY_DRAFT, reminder: "time", remindAt: "2030-01-01T09:00:05" });
    expect(at?.trigger?.case).toBe("remindTime");
    expect(reminderOf({ ...EMPTY_DRAFT, reminder: "time", remindAt: "" })).toBeUndefined();
  });
});
