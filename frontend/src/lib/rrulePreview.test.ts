import { describe, expect, it } from "vitest";
import { PRESET_RULES, rulePreview } from "./rrulePreview";
import { RecurrencePreset } from "../gen/todo/v1/task_pb";

describe("rulePreview", () => {
  it("says a rule in words and lists its next dates from the due time", () => {
    const preview = rulePreview("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3", "2030-01-07T09:30", 5);
    expect(preview).toMatchObject({ text: "every week on Monday, Wednesday for 3 times" });
    if ("next" in preview) expect(preview.next).toHaveLength(3);
  });

  it("refuses what the server refuses or cannot read", () => {
    const cases: [string, RegExp][] = [
      ["FREQ=DAILY;BYHOUR=9", /time of day/],
      ["BYDAY=MO", /FREQ/],
      ["", /empty/],
    ];
    for (const [rule, message] of cases) {
      const preview = rulePreview(rule, "2030-01-07T09:30", 5);
      expect("error" in preview ? preview.error : "", rule).toMatch(message);
    }
  });
});

describe("PRESET_RULES", () => {
  it("previews every preset from a Friday: weekdays skip the weekend", () => {
    const friday = "2030-01-04T08:00";
    const next = (preset: RecurrencePreset) => {
      const preview = rulePreview(PRESET_RULES[preset], friday, 3);
      return "next" in preview ? preview.next.length : 0;
    };
    for (const preset of [RecurrencePreset.DAILY, RecurrencePreset.WEEKDAYS, RecurrencePreset.WEEKLY, RecurrencePreset.MONTHLY, RecurrencePreset.YEARLY]) {
      expect(next(preset), `preset ${preset}`).toBe(3);
    }
    const weekdays = rulePreview(PRESET_RULES[RecurrencePreset.WEEKDAYS], friday, 2);
    expect("next" in weekdays && weekdays.next[1]).toMatch(/Mon/);
  });
});
