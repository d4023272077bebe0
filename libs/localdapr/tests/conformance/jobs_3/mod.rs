//! Reference §3 (with §2.1 and §2.6): the Jobs API — validation and status codes, storage and
//! reads, triggers and what the app's answers mean, staging, instances, durability across a
//! restart, and trigger timing.

mod api;
mod recorder;
mod timing;
mod triggers;
