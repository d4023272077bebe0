// A plain-language preview of a custom RRULE and its next dates, computed in the browser with
// the `rrule` package. The server's rrule engine stays the authority: it refuses what it cannot
// evaluate, and that error appears beside the Repeat field.

import { useMemo } from "react";
import { rulePreview } from "../lib/rrulePreview";

export function RrulePreview({ rule, due }: { rule: string; due: string }) {
  const preview = useMemo(() => rulePreview(rule, due, 5), [rule, due]);
  if (rule.trim() === "") return null;
  return (
    <div className="rrule-preview" aria-live="polite" aria-label="Rule preview">
      {"error" in preview ? (
        <p className="field-error">This rule cannot be read: {preview.error}</p>
      ) : (
        <>
          <p>
            Repeats <strong>{preview.text}</strong>.
          </p>
          {preview.next.length > 0 ? (
            <p>
              Next: <span className="muted">{preview.next.join(" · ")}</span>
            </p>
          ) : (
            <p className="field-error">This rule never occurs.</p>
          )}
        </>
      )}
    </div>
  );
}
