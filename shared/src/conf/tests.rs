//! Whole-module tests: the corpus under `tests/conf-corpus` and write_jail
//! round trips.
