// The preview of a custom recurrence rule: its plain-language text and next dates.

import { RRule } from "rrule";
import { fromLocalInput } from "./time";

export type RulePreview = { text: string; next: string[] } | { error: string };

/** The RRULE each preset means (RecurrencePreset values 1 to 5), for the preview only. */
export const PRESET_RULES: Record<number, string> = {
  1: "FREQ=DAILY",
  2: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
  3: "FREQ=WEEKLY",
  4: "FREQ=MONTHLY",
  5: "FREQ=YEARLY",
};

/**
 * Previews `rule` (an RRULE value, with or without "RRULE:") from the due time `due` (an
 * `<input type="datetime-local">` value; now when empty), listing at most `count` dates.
 * Dates are computed on the wall clock ("floating" times, as the rrule package advises), so
 * the time of day stays what the user set across daylight-saving changes, as on the server.
 */
export function rulePreview(rule: string, due: string, count: number): RulePreview {
  const text = rule.trim().replace(/^RRULE:/i, "");
  if (text === "") return { error: "empty rule" };
  if (/BY(HOUR|MINUTE|SECOND)=/i.test(text)) {
    return { error: "the time of day comes from the due time, so BYHOUR, BYMINUTE and BYSECOND are not allowed" };
  }
  try {
    const start = fromLocalInput(due) ?? new Date();
    const floating = new Date(
      Date.UTC(start.getFullYear(), start.getMonth(), start.getDate(), start.getHours(), start.getMinutes()),
    );
    const options = RRule.parseString(text);
    if (options.freq === undefined) return { error: "FREQ is missing" };
    const parsed = new RRule({ ...options, dtstart: floating });
    const next = parsed.all((_, index) => index < count).map((date) =>
      date.toLocaleString(undefined, {
        timeZone: "UTC",
        weekday: "short",
        day: "numeric",
        month: "short",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
      }),
    );
    return { text: parsed.toText(), next };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
