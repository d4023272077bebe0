//! recurring's metrics.

/// Completions of recurring tasks handled, by outcome ([`OccurrenceOutcome`]).
pub const OCCURRENCES_TOTAL: &str = "todo_recurring_occurrences_total";

/// What a completion of a recurring task led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OccurrenceOutcome {
    /// todo-api holds the next occurrence: created now, or by an earlier delivery of the event.
    Created,
    /// No next occurrence: COUNT is used up, or the next date is after UNTIL.
    SeriesEnded,
    /// todo-api refused the occurrence for good; the event was dropped to the dead letter.
    Refused,
}

impl OccurrenceOutcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::SeriesEnded => "series_ended",
            Self::Refused => "refused",
        }
    }
}

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_counter!(
        OCCURRENCES_TOTAL,
        "Completions of recurring tasks handled, by outcome: created (the next occurrence \
         exists), series_ended (skipped: COUNT or UNTIL reached), refused (dropped)."
    );
}

pub(crate) fn record(outcome: OccurrenceOutcome) {
    metrics::counter!(OCCURRENCES_TOTAL, "outcome" => outcome.as_str()).increment(1);
}
