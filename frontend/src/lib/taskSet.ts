// The client's view of the user's tasks, kept correct whatever order events arrive in.
//
// Events and listings are applied by version, never by arrival: a task's version grows by one
// with every change, so whatever carries the higher version is newer. A deletion leaves a
// tombstone with its version, so a late, older event cannot bring the task back.

/** The fields the set needs of a task. */
export interface Versioned {
  id: string;
  version: bigint;
}

/** What a task event tells the set. */
export interface TaskChange<T extends Versioned> {
  taskId: string;
  version: bigint;
  deleted: boolean;
  /** The task after the change (for a deletion, as it was). */
  task?: T;
}

/** The newest known state of every task seen, plus tombstones of deleted ones. */
export interface TaskSet<T extends Versioned> {
  readonly live: ReadonlyMap<string, T>;
  readonly deleted: ReadonlyMap<string, bigint>;
}

/** An empty set. */
export function emptyTaskSet<T extends Versioned>(): TaskSet<T> {
  return { live: new Map(), deleted: new Map() };
}

/** The highest version known of a task, live or deleted; -1 when unknown. */
export function knownVersion<T extends Versioned>(set: TaskSet<T>, id: string): bigint {
  const live = set.live.get(id)?.version ?? -1n;
  const deleted = set.deleted.get(id) ?? -1n;
  return live > deleted ? live : deleted;
}

/**
 * Applies one change; returns the same set (by identity) when the change is not newer than
 * what is known, so callers can skip a re-render.
 */
export function applyChange<T extends Versioned>(set: TaskSet<T>, change: TaskChange<T>): TaskSet<T> {
  if (change.version <= knownVersion(set, change.taskId)) {
    return set;
  }
  const live = new Map(set.live);
  const deleted = new Map(set.deleted);
  if (change.deleted) {
    live.delete(change.taskId);
    deleted.set(change.taskId, change.version);
  } else if (change.task) {
    live.set(change.taskId, change.task);
    deleted.delete(change.taskId);
  } else {
    return set;
  }
  return { live, deleted };
}

/** Applies the tasks of a listing: each replaces what is known only if it is newer. */
export function applyListed<T extends Versioned>(set: TaskSet<T>, listed: readonly T[]): TaskSet<T> {
  let next = set;
  for (const task of listed) {
    next = applyChange(next, { taskId: task.id, version: task.version, deleted: false, task });
  }
  return next;
}

/**
 * The page to show: the listed tasks in the server's order, each replaced by its newest known
 * state, and without those deleted since.
 */
export function reconcilePage<T extends Versioned>(set: TaskSet<T>, listed: readonly T[]): T[] {
  const page: T[] = [];
  for (const task of listed) {
    const deletedAt = set.deleted.get(task.id);
    if (deletedAt !== undefined && deletedAt >= task.version) {
      continue;
    }
    const newest = set.live.get(task.id);
    page.push(newest && newest.version > task.version ? newest : task);
  }
  return page;
}
