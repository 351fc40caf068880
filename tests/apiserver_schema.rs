//! The CRDs against a real kube-apiserver: they install, every example is accepted, the
//! structural schema refuses bad objects naming the field, and `kubectl get classlink`
//! shows both kinds with their printer columns.

mod common;

use common::ControlPlane;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("rostersync.io", "v1alpha1", kind))
}

fn classlinksync_resource() -> ApiResource {
    resource("ClassLinkSync")
}

fn valid_classlinksync(name: &str) -> Value {
    json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "ClassLinkSync",
        "metadata": {"name": name},
        "spec": {
            "displayName": "Riverside",
            "endpoint": "https://district-ca-v2.oneroster.com",
            "region": "US",
            "credentials": {"secretRef": {"name": "riverside-classlink"}},
        }
    })
}

fn school_exclusion(name: &str, schools: Value) -> Value {
    json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "metadata": {"name": name},
        "spec": {"classLinkSyncName": "riverside", "schools": schools}
    })
}

/// Creates `obj` (of either kind) with a server-side dry run and returns the API server's
/// error message.
async fn dry_run_create(client: &kube::Client, ns: &str, obj: Value) -> Result<(), String> {
    let kind = obj["kind"]
        .as_str()
        .expect("the object has a kind")
        .to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource(&kind));
    let obj: DynamicObject = serde_json::from_value(obj).expect("valid DynamicObject");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, &obj)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn crds_install_and_every_example_applies_with_server_side_dry_run() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let ns = cp.namespace(&client, "examples").await.expect("namespace");

    // The CRD files themselves, as docs/install.md tells users to apply them.
    let out = cp
        .kubectl()
        .args(["apply", "--server-side", "-f"])
        .arg(common::repo_root().join("crds"))
        .output()
        .expect("kubectl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl apply -f crds/: {stderr}");
    // A current server warns about schema it does not understand (unknown formats, …).
    assert!(
        !stderr.contains("Warning"),
        "kubectl apply -f crds/ warns: {stderr}"
    );

    let mut applied = 0;
    for file in common::yaml_files(&common::repo_root().join("examples")) {
        // Flux, Argo CD and External Secrets objects need their controllers' CRDs, and the
        // SOPS example names its namespace: tests/gitops.rs checks them.
        if file.file_name().is_some_and(|n| n == "kustomization.yaml")
            || file
                .components()
                .any(|c| c.as_os_str() == "gitops" || c.as_os_str() == "secrets")
        {
            continue;
        }
        let out = cp
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--dry-run=server",
                "-n",
                &ns,
                "-f",
            ])
            .arg(&file)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{} was refused: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        applied += 1;
    }
    assert!(applied >= 7, "applied {applied} example files");

    // The kustomization a GitOps tool points at renders and applies as a whole.
    let demo_ns = "classlink-demo";
    let _ = cp.kubectl().args(["create", "namespace", demo_ns]).output();
    let out = cp
        .kubectl()
        .args(["apply", "--server-side", "--dry-run=server", "-k"])
        .arg(common::repo_root().join("examples"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl apply -k examples: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("classlinksync.rostersync.io/riverside serverside-applied"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("schoolexclusion.rostersync.io/riverside-closed-campuses serverside-applied"),
        "{stdout}"
    );
}

#[tokio::test]
async fn structural_schema_refuses_bad_objects_and_names_the_field() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let ns = cp.namespace(&client, "schema").await.expect("namespace");

    dry_run_create(&client, &ns, valid_classlinksync("valid"))
        .await
        .expect("a minimal valid ClassLinkSync is accepted");

    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut no_endpoint = valid_classlinksync("no-endpoint");
    no_endpoint["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("endpoint");
    cases.push(("no endpoint", no_endpoint, "spec.endpoint"));

    let mut bad_region = valid_classlinksync("bad-region");
    bad_region["spec"]["region"] = json!("EU");
    cases.push(("unknown region", bad_region, "spec.region"));

    let mut high_priority = valid_classlinksync("high-priority");
    high_priority["spec"]["merge"] = json!({"priority": 5000});
    cases.push((
        "priority out of bounds",
        high_priority,
        "spec.merge.priority",
    ));

    let mut negative_priority = valid_classlinksync("negative-priority");
    negative_priority["spec"]["merge"] = json!({"priority": -1});
    cases.push((
        "negative priority",
        negative_priority,
        "spec.merge.priority",
    ));

    let mut page_size_text = valid_classlinksync("page-size-text");
    page_size_text["spec"]["pageSize"] = json!("many");
    cases.push((
        "page size of the wrong type",
        page_size_text,
        "spec.pageSize",
    ));

    let mut big_page = valid_classlinksync("big-page");
    big_page["spec"]["pageSize"] = json!(50_000);
    cases.push(("page size out of bounds", big_page, "spec.pageSize"));

    let mut ftp = valid_classlinksync("ftp");
    ftp["spec"]["endpoint"] = json!("ftp://district.example.org");
    cases.push(("endpoint that is not an http(s) URL", ftp, "spec.endpoint"));

    let mut suspend_text = valid_classlinksync("suspend-text");
    suspend_text["spec"]["suspend"] = json!("yes");
    cases.push(("suspend of the wrong type", suspend_text, "spec.suspend"));

    let mut bad_method = valid_classlinksync("bad-method");
    bad_method["spec"]["credentials"]["method"] = json!("Basic");
    cases.push(("unknown auth method", bad_method, "spec.credentials.method"));

    let mut no_secret = valid_classlinksync("no-secret");
    no_secret["spec"]["credentials"] = json!({"method": "OAuth1"});
    cases.push(("no secretRef", no_secret, "spec.credentials.secretRef"));

    let mut bad_relationship = valid_classlinksync("bad-relationship");
    bad_relationship["spec"]["options"] =
        json!({"syncParentData": true, "parentRelationshipType": "Aunt"});
    cases.push((
        "unknown relationship type",
        bad_relationship,
        "spec.options.parentRelationshipType",
    ));

    for (what, obj, field) in cases {
        let err = dry_run_create(&client, &ns, obj)
            .await
            .expect_err(&format!("{what} must be refused"));
        assert!(
            err.contains(field),
            "{what}: the error names {field}: {err}"
        );
    }

    // A SchoolExclusion with no schools is refused too.
    let err = dry_run_create(&client, &ns, school_exclusion("empty", json!([])))
        .await
        .expect_err("an exclusion without schools is refused");
    assert!(err.contains("spec.schools"), "{err}");
}

/// The CRDs' cross-field rules (`x-kubernetes-validations`) as the API server enforces them:
/// each broken rule is refused with the rule's message, at the field the rule names.
/// (`tests/cel_rules.rs` checks the same rules in-process, as the CLI does.)
#[tokio::test]
async fn the_server_refuses_each_broken_cel_rule_with_its_message() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let ns = cp.namespace(&client, "cel").await.expect("namespace");

    const TOKEN_URL_RULE: &str = "tokenUrl is required with method OAuth2ClientCredentials and not allowed with any other method";
    const SCOPES_RULE: &str = "scopes are only used with method OAuth2ClientCredentials";
    const RELATIONSHIP_RULE: &str =
        "parentRelationshipType is required when syncParentData is true and not allowed otherwise";
    const SCHOOL_RULE: &str = "name a school by exactly one of sourcedId, identifier or name";

    let with_credentials = |name: &str, credentials: Value| {
        let mut obj = valid_classlinksync(name);
        obj["spec"]["credentials"] = credentials;
        obj
    };
    let with_options = |name: &str, options: Value| {
        let mut obj = valid_classlinksync(name);
        obj["spec"]["options"] = options;
        obj
    };
    let secret = json!({"name": "riverside-classlink"});

    // What the rules allow, so a refusal below is the rule's and not the object's.
    let valid = [
        with_credentials(
            "oauth2",
            json!({"secretRef": secret, "method": "OAuth2ClientCredentials",
                   "tokenUrl": "https://lakeside.oneroster.com/oauth2/token",
                   "scopes": ["roster-core.readonly"]}),
        ),
        with_credentials("bearer", json!({"secretRef": secret, "method": "Bearer"})),
        with_options(
            "parents",
            json!({"syncParentData": true, "parentRelationshipType": "Guardian"}),
        ),
        school_exclusion(
            "one-key-each",
            json!([{"sourcedId": "org-1"}, {"identifier": "CA-0042"}, {"name": "Oak Middle School"}]),
        ),
    ];
    for obj in valid {
        let name = obj["metadata"]["name"].clone();
        dry_run_create(&client, &ns, obj)
            .await
            .unwrap_or_else(|e| panic!("{name} is valid: {e}"));
    }

    let broken = [
        (
            "tokenUrl with method Bearer",
            with_credentials(
                "bearer-token-url",
                json!({"secretRef": secret, "method": "Bearer",
                       "tokenUrl": "https://example.org/oauth2/token"}),
            ),
            "spec.credentials.tokenUrl",
            TOKEN_URL_RULE,
        ),
        (
            "tokenUrl with method OAuth1",
            with_credentials(
                "oauth1-token-url",
                json!({"secretRef": secret, "method": "OAuth1",
                       "tokenUrl": "https://example.org/oauth2/token"}),
            ),
            "spec.credentials.tokenUrl",
            TOKEN_URL_RULE,
        ),
        (
            "OAuth 2.0 without tokenUrl",
            with_credentials(
                "oauth2-no-token-url",
                json!({"secretRef": secret, "method": "OAuth2ClientCredentials"}),
            ),
            "spec.credentials.tokenUrl",
            TOKEN_URL_RULE,
        ),
        (
            "scopes with method Bearer",
            with_credentials(
                "bearer-scopes",
                json!({"secretRef": secret, "method": "Bearer", "scopes": ["roster-core.readonly"]}),
            ),
            "spec.credentials.scopes",
            SCOPES_RULE,
        ),
        (
            "parent sync without a relationship type",
            with_options("parents-no-type", json!({"syncParentData": true})),
            "spec.options.parentRelationshipType",
            RELATIONSHIP_RULE,
        ),
        (
            "a relationship type without parent sync",
            with_options(
                "type-no-parents",
                json!({"parentRelationshipType": "Parent"}),
            ),
            "spec.options.parentRelationshipType",
            RELATIONSHIP_RULE,
        ),
        (
            "a school named twice",
            school_exclusion(
                "named-twice",
                json!([{"sourcedId": "org-1", "name": "Oak Middle School"}]),
            ),
            "spec.schools[0]",
            SCHOOL_RULE,
        ),
        (
            "a school not named",
            school_exclusion("not-named", json!([{"sourcedId": "org-1"}, {}])),
            "spec.schools[1]",
            SCHOOL_RULE,
        ),
    ];
    for (what, obj, field, message) in broken {
        let err = dry_run_create(&client, &ns, obj)
            .await
            .expect_err(&format!("{what} must be refused"));
        assert!(
            err.contains(&format!("{field}: Invalid value")) && err.contains(message),
            "{what}: refused at {field} with {message:?}: {err}"
        );
    }
}

#[tokio::test]
async fn kubectl_get_classlink_lists_both_kinds_with_printer_columns() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let ns = cp.namespace(&client, "columns").await.expect("namespace");

    let syncs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &classlinksync_resource());
    let obj: DynamicObject =
        serde_json::from_value(valid_classlinksync("riverside")).expect("valid");
    syncs
        .create(&PostParams::default(), &obj)
        .await
        .expect("create ClassLinkSync");

    // Status as the controller writes it: server-side apply on the status subresource.
    let status = json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "ClassLinkSync",
        "status": {
            "observedGeneration": 1,
            "nextSyncTime": "2026-11-29T00:00:00Z",
            "lastSync": {
                "trigger": "Initial",
                "startTime": "2026-11-28T00:00:00Z",
                "completionTime": "2026-11-28T00:03:10Z",
                "durationSeconds": 190,
                "result": "PartiallySucceeded",
                "errorCode": "IncompleteSchoolData",
                "counts": {"matchedStudents": 0, "matchedTeachers": 0, "syncedStudents": 987, "syncedTeachers": 65, "importedClasses": 432, "unmatchedUsers": 12}
            },
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "PartiallySucceeded", "message": "Incomplete data in 1 of 3 schools", "lastTransitionTime": "2026-11-28T00:03:10Z"},
                {"type": "Syncing", "status": "False", "reason": "Scheduled", "message": "the next nightly sync starts at 2026-11-29T00:00:00Z", "lastTransitionTime": "2026-11-28T00:03:10Z"}
            ]
        }
    });
    syncs
        .patch_status(
            "riverside",
            &PatchParams::apply("classlink-operator-tests").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("status server-side apply");

    let exclusions: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rostersync.io",
            "v1alpha1",
            "SchoolExclusion",
        )),
    );
    let exclusion: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "metadata": {"name": "closed-campus"},
        "spec": {"classLinkSyncName": "riverside", "schools": [{"sourcedId": "org-school-0003"}]}
    }))
    .expect("valid");
    exclusions
        .create(&PostParams::default(), &exclusion)
        .await
        .expect("create SchoolExclusion");
    let exclusion_status = json!({
        "apiVersion": "rostersync.io/v1alpha1",
        "kind": "SchoolExclusion",
        "status": {"found": "1/1", "summary": "Hillcrest Elementary"}
    });
    exclusions
        .patch_status(
            "closed-campus",
            &PatchParams::apply("classlink-operator-tests").force(),
            &Patch::Apply(&exclusion_status),
        )
        .await
        .expect("status server-side apply");

    let out = cp
        .kubectl()
        .args(["get", "classlink", "-n", &ns])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();

    let header = lines
        .iter()
        .find(|l| l.contains("UNMATCHED"))
        .unwrap_or_else(|| panic!("a ClassLinkSync table:\n{table}"));
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESULT",
            "STUDENTS",
            "TEACHERS",
            "CLASSES",
            "UNMATCHED",
            "ERROR",
            "LAST SYNC",
            "NEXT SYNC",
            "AGE"
        ],
        "{table}"
    );
    let row = lines
        .iter()
        .find(|l| l.contains("classlinksync.rostersync.io/riverside"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..9],
        [
            "classlinksync.rostersync.io/riverside",
            "True",
            "Scheduled",
            "PartiallySucceeded",
            "987",
            "65",
            "432",
            "12",
            "IncompleteSchoolData"
        ],
        "{table}"
    );
    assert!(
        row.contains("2026-11-29T00:00:00Z"),
        "next sync shown: {table}"
    );

    let header = lines
        .iter()
        .find(|l| l.contains("SYNC") && l.contains("FOUND"))
        .unwrap_or_else(|| panic!("a SchoolExclusion table:\n{table}"));
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        ["NAME", "SYNC", "SCHOOLS", "FOUND", "READY", "AGE"],
        "{table}"
    );
    let row = lines
        .iter()
        .find(|l| l.contains("schoolexclusion.rostersync.io/closed-campus"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("riverside") && row.contains("Hillcrest Elementary") && row.contains("1/1"),
        "{table}"
    );

    // Short names work too.
    let out = cp
        .kubectl()
        .args(["get", "cls", "-n", &ns, "-o", "name"])
        .output()
        .expect("kubectl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "classlinksync.rostersync.io/riverside"
    );
}

#[tokio::test]
async fn kubectl_explain_shows_the_status_fields_documentation() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;

    // The API server publishes the CRDs' OpenAPI a moment after they are established.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let explained = loop {
        let out = cp
            .kubectl()
            .args(["explain", "classlinksync.status"])
            .output()
            .expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && stdout.contains("nextSyncTime") {
            break stdout;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl explain classlinksync.status: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    // kubectl wraps long descriptions.
    let explained = explained.split_whitespace().collect::<Vec<_>>().join(" ");
    for documented in [
        "The `metadata.generation` this status describes.",
        "When the next sync may start: the nightly slot, or sooner when a failed sync is retried",
        "lastSync",
        "conditions",
    ] {
        assert!(explained.contains(documented), "{documented}:\n{explained}");
    }
}
