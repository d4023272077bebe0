import { describe, expect, it } from "vitest";
import { rulePreview } from "./rrulePreview";

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
