//! Snapshot tests of jmk's command line (tests/cmd/jmk/*.toml): help,
//! usage errors and bad input, each a one-line message with its exit
//! status. They need no root: every case fails before touching a jail.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin("jmk", trycmd::cargo::cargo_bin!("jmk"))
        .case("../tests/cmd/jmk/*.toml");
}
