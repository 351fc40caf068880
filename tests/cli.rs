//! The command line as a user meets it.

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_classlink-operator"))
}

#[test]
fn version_prints_the_crate_version() {
    let out = operator().arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("classlink-operator {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_subcommand() {
    let out = operator().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["run", "sync", "crds", "trigger", "identities"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lists {command}:\n{help}"
        );
    }
}

#[test]
fn crds_command_prints_both_crds() {
    let out = operator().arg("crds").output().expect("runs");
    assert!(out.status.success());
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("name: classlinksyncs.rostersync.io"));
    assert!(yaml.contains("name: schoolexclusions.rostersync.io"));
}

#[test]
fn subcommands_not_built_yet_say_what_is_missing_and_exit_2() {
    let cases: [&[&str]; 4] = [
        &["run"],
        &["sync", "-f", "examples/oauth1"],
        &["trigger", "riverside", "-n", "schools"],
        &["identities", "list", "--namespace", "schools"],
    ];
    for args in cases {
        let out = operator().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("does not include yet") && stderr.contains(args[0]),
            "{args:?}: {stderr}"
        );
    }
}
