import { describe, expect, it } from "vitest";
import { applyChange, applyListed, emptyTaskSet, reconcilePage, type TaskSet } from "./taskSet";

interface T {
  id: string;
  version: bigint;
  title: string;
}
const task = (id: string, version: bigint, title = `${id}@${version}`): T => ({ id, version, title });
const upsert = (t: T) => ({ taskId: t.id, version: t.version, deleted: false, task: t });
const deletion = (id: string, version: bigint) => ({ taskId: id, version, deleted: true });

describe("applyChange", () => {
  it("keeps the newest version whatever order events arrive in", () => {
    const orders = [
      [1n, 2n, 3n],
      [3n, 1n, 2n],
      [2n, 3n, 1n],
      [3n, 2n, 1n],
    ];
    for (const order of orders) {
      let set: TaskSet<T> = emptyTaskSet();
      for (const version of order) set = applyChange(set, upsert(task("a", version)));
      expect(set.live.get("a")?.version, `order ${order.join(",")}`).toBe(3n);
    }
  });

  it("returns the same set for a duplicate or older event", () => {
    const set = applyChange(emptyTaskSet<T>(), upsert(task("a", 2n)));
    expect(applyChange(set, upsert(task("a", 2n)))).toBe(set);
    expect(applyChange(set, upsert(task("a", 1n)))).toBe(set);
  });

  it("does not let an older event bring a deleted task back", () => {
    let set = applyChange(emptyTaskSet<T>(), upsert(task("a", 1n)));
    set = applyChange(set, deletion("a", 3n));
    set = applyChange(set, upsert(task("a", 2n)));
    expect(set.live.has("a")).toBe(false);
    expect(set.deleted.get("a")).toBe(3n);
  });
});

describe("applyListed and reconcilePage", () => {
  it("keeps an event newer than the listing that raced it", () => {
    // The watch was opened first, so v3 arrived while the list (taken at v2) was in flight.
    let set = applyChange(emptyTaskSet<T>(), upsert(task("a", 3n, "renamed")));
    const listed = [task("a", 2n, "old"), task("b", 1n)];
    set = applyListed(set, listed);
    expect(set.live.get("a")?.title).toBe("renamed");
    expect(reconcilePage(set, listed).map((t) => t.title)).toEqual(["renamed", "b@1"]);
  });

  it("takes a listing newer than the events seen", () => {
    let set = applyChange(emptyTaskSet<T>(), upsert(task("a", 1n, "old")));
    set = applyListed(set, [task("a", 4n, "new")]);
    expect(set.live.get("a")?.title).toBe("new");
  });

  it("drops from the page a task deleted after it was listed, in the server's order", () => {
    const listed = [task("c", 1n), task("a", 1n), task("b", 1n)];
    let set = applyListed(emptyTaskSet<T>(), listed);
    set = applyChange(set, deletion("a", 2n));
    expect(reconcilePage(set, listed).map((t) => t.id)).toEqual(["c", "b"]);
  });

  it("shows a task listed at a version newer than its tombstone (recreated)", () => {
    let set = applyChange(emptyTaskSet<T>(), deletion("a", 2n));
    const listed = [task("a", 3n)];
    set = applyListed(set, listed);
    expect(reconcilePage(set, listed).map((t) => t.version)).toEqual([3n]);
  });
});
