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
fn trigger_without_a_cluster_says_so() {
    let out = operator()
        .args(["trigger", "riverside", "-n", "schools"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connecting to Kubernetes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sync_without_its_secret_fails_with_secret_not_found_and_exit_code_4() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/oauth1/classlinksync.yaml"
        ),
        dir.path().join("classlinksync.yaml"),
    )
    .expect("copy");
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    let out = operator()
        .args([
            "sync", "-o", "json", "-n", "schools", "--store", &store, "-f",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["result"], "Failed");
    assert_eq!(report["errorCode"], "SecretNotFound");
    assert_eq!(report["counts"]["matchedStudents"], 0);
    assert!(
        report["message"]
            .as_str()
            .unwrap_or_default()
            .contains("schools/riverside-classlink")
    );
}

#[test]
fn sync_refuses_files_without_a_classlinksync() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("x.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
    )
    .expect("write");
    let out = operator()
        .args(["sync", "-f"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ClassLinkSync"));
}

#[test]
fn identities_import_then_list_shows_the_users_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "email,given_name,family_name,role\nana@x.edu,Ana,Lee,teacher\nbo@x.edu,Bo,,student\n",
    )
    .expect("write");
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    for expected in ["imported 2 of 2", "imported 0 of 2"] {
        let out = operator()
            .args(["identities", "import", "-n", "schools", "--store", &store])
            .arg(&csv)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(expected));
    }
    let out = operator()
        .args(["identities", "list", "-n", "schools", "--store", &store])
        .output()
        .expect("runs");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("ana@x.edu") && listing.contains("Ana Lee") && listing.contains("2 users"),
        "{listing}"
    );
    let other = operator()
        .args(["identities", "list", "-n", "elsewhere", "--store", &store])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&other.stdout).contains("0 users"),
        "namespaces are tenants"
    );
}

#[test]
fn identities_import_names_the_line_of_a_bad_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "email,given_name\nana@x.edu,Ana\n,Nobody\n").expect("write");
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    let out = operator()
        .args(["identities", "import", "-n", "schools", "--store", &store])
        .arg(&csv)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && !stderr.contains("Nobody"),
        "{stderr}"
    );
}

/// The example ClassLinkSync (whose Secret is absent) in a temp dir.
fn example_sync_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/oauth1/classlinksync.yaml"
        ),
        dir.path().join("classlinksync.yaml"),
    )
    .expect("copy");
    dir
}

#[test]
fn sync_with_a_store_that_cannot_be_opened_fails_with_store_unavailable_and_exit_code_4() {
    let dir = example_sync_dir();
    let unopenable = [
        format!(
            "sqlite://{}",
            dir.path().join("no/such/dir/roster.db").display()
        ),
        // Not a store this build knows; the password must not be shown.
        "mysql://roster:pa55w0rd-secret@db/roster".to_owned(),
    ];
    for store in unopenable {
        let out = operator()
            .args([
                "sync", "-o", "json", "-n", "schools", "--store", &store, "-f",
            ])
            .arg(dir.path())
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(4),
            "{store}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        assert_eq!(report["result"], "Failed", "{store}");
        assert_eq!(report["errorCode"], "StoreUnavailable", "{store}");
        let everything = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!everything.contains("pa55w0rd"), "{store}: {everything}");
    }
}

#[test]
fn rust_log_turns_on_the_sync_commands_logs() {
    let dir = example_sync_dir();
    let store = format!("sqlite://{}", dir.path().join("roster.db").display());
    let run = |rust_log: Option<&str>| {
        let mut command = operator();
        command
            .args([
                "sync", "-o", "json", "-n", "schools", "--store", &store, "-f",
            ])
            .arg(dir.path())
            .env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let out = command.output().expect("runs");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let quiet = run(None);
    assert!(!quiet.contains("sync from resource files"), "{quiet}");
    let chatty = run(Some("info"));
    assert!(chatty.contains("sync from resource files"), "{chatty}");
    assert!(chatty.contains("INFO"), "{chatty}");
}

#[test]
fn the_sqlite_file_alone_holds_what_identities_import_wrote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "email,given_name,family_name,role\nana@x.edu,Ana,Lee,teacher\nbo@x.edu,Bo,,student\n",
    )
    .expect("write");
    let db = dir.path().join("roster.db");
    // Another process has the file open (the operator, a report): the command's connections
    // are then not the file's last, and closing them alone would leave its rows in the
    // `-wal` file.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let reader = runtime
        .block_on(classlink_operator::store::Store::open(
            &db.display().to_string(),
        ))
        .expect("the store opens");
    let out = operator()
        .args(["identities", "import", "-n", "schools", "--store"])
        .arg(&db)
        .arg(&csv)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A user copies the database file, and only it.
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = copy_dir.path().join("copy.db");
    std::fs::copy(&db, &copy).expect("copy the .db file");
    let out = operator()
        .args(["identities", "list", "-n", "schools", "--store"])
        .arg(&copy)
        .output()
        .expect("runs");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("ana@x.edu") && listing.contains("2 users in namespace schools"),
        "the copy holds the import: {listing}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wal = dir.path().join("roster.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the write-ahead log is empty or gone after the command"
    );
    drop(reader);
}

#[test]
fn sync_refuses_files_the_api_server_would_refuse_and_names_every_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("classlinksync.yaml"),
        r#"apiVersion: rostersync.io/v1alpha1
kind: ClassLinkSync
metadata:
  name: riverside
spec:
  displayName: Riverside
  endpoint: https://district-ca-v2.oneroster.com
  region: US
  credentials:
    secretRef:
      name: riverside-classlink
  pageSize: 0
  shrinkGuardPercent: 500
  maxConcurrentRequests: 100000
  options:
    respectEnrollmentDate: true
---
apiVersion: rostersync.io/v1alpha1
kind: ClassLinkSync
metadata:
  name: lakeside
spec:
  displayName: Lakeside
  endpoint: https://lakeside.oneroster.com
  region: US
  credentials:
    secretRef:
      name: lakeside-classlink
    method: OAuth2ClientCredentials
"#,
    )
    .expect("write");
    let store = dir.path().join("roster.db");
    let out = operator()
        .args(["sync", "--name", "riverside", "-f"])
        .arg(dir.path())
        .arg("--store")
        .arg(&store)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "ClassLinkSync riverside: spec.options.respectEnrollmentDate: field not declared in schema",
        "ClassLinkSync riverside: spec.pageSize: Invalid value: 0: spec.pageSize in body should be greater than or equal to 1",
        "ClassLinkSync riverside: spec.shrinkGuardPercent: Invalid value: 500: spec.shrinkGuardPercent in body should be less than or equal to 100",
        "ClassLinkSync riverside: spec.maxConcurrentRequests: Invalid value: 100000: spec.maxConcurrentRequests in body should be less than or equal to",
        // A CEL rule of the CRD.
        "ClassLinkSync lakeside: ",
        "tokenUrl is required",
    ] {
        assert!(stderr.contains(expected), "{expected}\nin:\n{stderr}");
    }
    assert!(!store.exists(), "nothing was synced");
}

#[test]
fn every_example_resource_is_valid_for_the_cli() {
    let out = operator()
        .args(["sync", "--name", "no-such-sync", "-f"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no ClassLinkSync named \"no-such-sync\""),
        "the examples pass validation and only the name is missing: {stderr}"
    );
}

#[test]
fn a_copy_named_kubectl_classlink_is_the_kubectl_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = dir.path().join("kubectl-classlink");
    std::fs::copy(env!("CARGO_BIN_EXE_classlink-operator"), &plugin).expect("copy");
    let out = Command::new(&plugin).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: kubectl classlink"), "{help}");
    for command in ["status", "sync", "suspend", "resume", "whois"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lists {command}:\n{help}"
        );
    }
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("crds")),
        "the operator's own commands are not the plugin's:\n{help}"
    );
}

#[test]
fn whois_on_a_store_that_does_not_exist_says_so_and_creates_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = dir.path().join("kubectl-classlink");
    std::fs::copy(env!("CARGO_BIN_EXE_classlink-operator"), &plugin).expect("copy");
    let missing = dir.path().join("typo.db");
    let out = Command::new(&plugin)
        .args([
            "whois",
            "someone@example.invalid",
            "-n",
            "schools",
            "--store",
        ])
        .arg(&missing)
        .env_remove("CLASSLINK_STORE")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no roster store at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!missing.exists());
}
