//! Fault tests of the whole suite (issue #12), in `tests/faults`: the real binaries of the
//! target directory under `localdapr run`, a consumer or localdapr itself killed with
//! `kill -9` in the middle of a 2,000-event run, poison events, and a stalled consumer. The
//! library is empty; the tests need `cargo build --bins` (or `cargo test --workspace`) first.
