// Times as the user sees them: in the browser's time zone, which is also the zone a task's due
// time is saved in (Task.time_zone), so recurrence keeps the wall-clock time the user chose.

/** The browser's IANA time zone, such as "Europe/Paris". */
export function userTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const pad = (n: number) => String(n).padStart(2, "0");

/** The value of an `<input type="datetime-local">` for `date`, in the browser's zone. */
export function toLocalInput(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The moment an `<input type="datetime-local">` value means in the browser's zone; null if empty or invalid. */
export function fromLocalInput(value: string): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A short, readable moment: "Today 14:30", "Tomorrow 09:00", "Mon 3 Mar 14:30". */
export function formatMoment(date: Date, now: Date = new Date()): string {
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const days = Math.round((day - today) / 86_400_000);
  if (days === 0) return `Today ${time}`;
  if (days === 1) return `Tomorrow ${time}`;
  if (days === -1) return `Yesterday ${time}`;
  const sameYear = date.getFullYear() === now.getFullYear();
  const dayText = date.toLocaleDateString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    ...(sameYear ? {} : { year: "numeric" }),
  });
  return `${dayText} ${time}`;
}

/** Start of the browser's day containing `date`. */
export function startOfDay(date: Date): Date {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** `date` plus `days` calendar days (wall clock, so DST-safe). */
export function addDays(date: Date, days: number): Date {
  const next = new Date(date);
  next.setDate(next.getDate() + days);
  return next;
}
