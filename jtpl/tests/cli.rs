//! Snapshot tests of jtpl's command line (tests/cmd/jtpl/*.toml) over the
//! templates in tests/templates/jtpl: plans as NDJSON, warnings, and every
//! planning error with its message and exit status. None needs root or a
//! jail.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin("jtpl", trycmd::cargo::cargo_bin!("jtpl"))
        .case("../tests/cmd/jtpl/*.toml");
}
