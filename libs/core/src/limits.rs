//! Storage limits and the bucket layout of a user's tasks.
//!
//! A user's tasks live in [`BUCKET_COUNT`] bucket documents; a task's bucket is fixed by its id.
//! Keys are `tasks-<user_id>-<b>`, not ARCHITECTURE.md's `tasks||<user_id>||<b>`: Dapr rejects
//! state keys containing `||`, its separator between app id and key.

use sha2::{Digest, Sha256};

use crate::ids::{TaskId, UserId};

/// The most tasks one user may have; beyond it a create fails with `RESOURCE_EXHAUSTED`.
pub const MAX_TASKS_PER_USER: usize = 10_000;

/// How many bucket documents hold one user's tasks. Fixed per deployment: changing it moves
/// tasks to other buckets, which needs a migration.
pub const BUCKET_COUNT: u8 = 16;

/// Returns the bucket of a task: the first byte of SHA-256 of the UUID's 16 bytes, mod
/// [`BUCKET_COUNT`]. SHA-256 is fixed forever, unlike `std`'s `DefaultHasher`, which may change
/// between Rust releases and would move every task.
pub fn bucket_index(task_id: &TaskId) -> u8 {
    let digest = Sha256::digest(task_id.as_uuid().as_bytes());
    digest.first().copied().unwrap_or(0) % BUCKET_COUNT
}

/// Returns the state key of bucket `index` of `user`: `tasks-<user_id>-<index>`.
pub fn bucket_key(user: &UserId, index: u8) -> String {
    debug_assert!(index < BUCKET_COUNT, "bucket index {index} out of range");
    format!("tasks-{user}-{index}")
}

/// Returns the state key of the bucket that holds `task_id` of `user`.
pub fn bucket_key_for_task(user: &UserId, task_id: &TaskId) -> String {
    bucket_key(user, bucket_index(task_id))
}

/// Returns the state keys of all of `user`'s buckets, in index order (what a listing reads).
pub fn all_bucket_keys(user: &UserId) -> Vec<String> {
    (0..BUCKET_COUNT)
        .map(|index| bucket_key(user, index))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";

    #[test]
    fn bucket_indexes_are_stable_across_releases() {
        // Pinned values: if these change, stored tasks would be looked up in the wrong bucket.
        let cases = [
            ("nil", "00000000-0000-0000-0000-000000000000", 7),
            ("sample", "0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d", 5),
        ];
        for (case, id, expected) in cases {
            assert_eq!(
                bucket_index(&TaskId::parse(id).unwrap()),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn bucket_indexes_spread_over_all_buckets() {
        let mut counts = [0_u32; BUCKET_COUNT as usize];
        for _ in 0..1_600 {
            let index = bucket_index(&TaskId::new_v4());
            assert!(index < BUCKET_COUNT);
            if let Some(count) = counts.get_mut(usize::from(index)) {
                *count += 1;
            }
        }
        assert!(counts.iter().all(|count| *count > 40), "{counts:?}");
    }

    #[test]
    fn bucket_keys_avoid_the_dapr_separator() {
        let user = UserId::parse(USER).unwrap();
        assert_eq!(bucket_key(&user, 7), format!("tasks-{USER}-7"));
        let keys = all_bucket_keys(&user);
        assert_eq!(keys.len(), usize::from(BUCKET_COUNT));
        assert!(keys.iter().all(|key| !key.contains("||")));
        let task = TaskId::new_v4();
        assert!(keys.contains(&bucket_key_for_task(&user, &task)));
    }
}
