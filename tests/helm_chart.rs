//! The Helm chart against a real kube-apiserver: it lints clean, renders for each of its
//! value combinations and the API server accepts every rendering (server-side dry run),
//! it refuses combinations that cannot work with a message saying what to set, it installs
//! and uninstalls, and its ServiceAccount gets exactly the access the operator needs.

mod common;

use std::collections::BTreeSet;

use common::ControlPlane;
use common::helm::{self, ServiceAccountKubeconfig};
use serde_json::{Value, json};

/// The names of the series the operator serves, read from its own exposition: a gauge by
/// its name, a counter with `_total`, an info with `_info`, a histogram by its base name.
fn operator_metrics() -> BTreeSet<String> {
    classlink_operator::controller::metrics::Metrics::new()
        .encode()
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("# TYPE ")?.split_whitespace();
            let (name, kind) = (parts.next()?, parts.next()?);
            Some(match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_owned(),
            })
        })
        .collect()
}

/// Whether `metric` (as a PromQL expression names it) is one the operator serves.
fn served(metric: &str, served: &BTreeSet<String>) -> bool {
    served.contains(metric)
        || ["_bucket", "_sum", "_count"].iter().any(|s| {
            metric
                .strip_suffix(s)
                .is_some_and(|base| served.contains(base))
        })
}

/// Series about the operator itself, not about one ClassLinkSync: no namespace or name.
const OPERATOR_WIDE: &[&str] = &[
    "classlink_leader",
    "classlink_syncs_in_flight",
    "classlink_build_info",
];

/// Renders the chart with `sets`, asserts the API server accepts every object with a
/// server-side dry run, and returns the rendered objects.
fn render_and_dry_run(
    cp: &ControlPlane,
    release: &str,
    namespace: &str,
    sets: &[&str],
) -> Vec<Value> {
    let manifest = helm::template(cp, release, namespace, sets)
        .unwrap_or_else(|e| panic!("helm template {sets:?}: {e}"));
    let applied = helm::dry_run_apply(cp, &manifest)
        .unwrap_or_else(|e| panic!("the API server refused the rendering of {sets:?}: {e}"));
    let docs = helm::documents(&manifest);
    for doc in &docs {
        let kind = doc["kind"].as_str().expect("every object has a kind");
        let name = doc["metadata"]["name"]
            .as_str()
            .expect("every object has a name");
        assert!(
            applied.contains(&format!("/{name} serverside-applied (server dry run)")),
            "{kind} {name} was not applied:\n{applied}"
        );
    }
    docs
}

/// A namespace prepared for a release, with the CRDs installed.
async fn release_namespace(cp: &ControlPlane, prefix: &str) -> (kube::Client, String) {
    let client = cp.client().await.expect("client");
    common::install_crds(&client).await;
    let ns = cp.namespace(&client, prefix).await.expect("namespace");
    (client, ns)
}

fn names(objects: &[&Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| {
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            format!("{ns}/{}", o["metadata"]["name"].as_str().unwrap_or(""))
        })
        .collect()
}

fn rules(role: &Value) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        let verbs: BTreeSet<String> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .map(|v| v.as_str().expect("verb").to_string())
            .collect();
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for resource in rule["resources"].as_array().expect("resources") {
                out.push((
                    group.as_str().expect("group").to_string(),
                    resource.as_str().expect("resource").to_string(),
                    verbs.clone(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn verbs(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|v| v.to_string()).collect()
}

/// Exactly the rules of the operator's contract for the namespaces it watches.
fn watched_namespace_rules() -> Vec<(String, String, BTreeSet<String>)> {
    let mut expected = vec![
        (
            "rostersync.io".into(),
            "classlinksyncs".into(),
            verbs(&["get", "list", "watch", "patch", "update"]),
        ),
        (
            "rostersync.io".into(),
            "schoolexclusions".into(),
            verbs(&["get", "list", "watch", "patch", "update"]),
        ),
        (
            "rostersync.io".into(),
            "classlinksyncs/status".into(),
            verbs(&["get", "patch", "update"]),
        ),
        (
            "rostersync.io".into(),
            "schoolexclusions/status".into(),
            verbs(&["get", "patch", "update"]),
        ),
        (
            "rostersync.io".into(),
            "classlinksyncs/finalizers".into(),
            verbs(&["update"]),
        ),
        (
            "".into(),
            "secrets".into(),
            verbs(&["get", "list", "watch"]),
        ),
        (
            "events.k8s.io".into(),
            "events".into(),
            verbs(&["create", "patch"]),
        ),
    ];
    expected.sort();
    expected
}

#[test]
fn chart_crds_are_a_byte_identical_copy_of_the_crds_directory() {
    let source = std::fs::read(common::repo_root().join("crds/rostersync.io.yaml")).expect("crds/");
    let copy = std::fs::read(helm::chart_dir().join("crds/rostersync.io.yaml"))
        .expect("charts/classlink-operator/crds/");
    assert!(
        source == copy,
        "charts/classlink-operator/crds/rostersync.io.yaml differs from crds/rostersync.io.yaml: \
         cp crds/rostersync.io.yaml charts/classlink-operator/crds/"
    );
    let files = common::yaml_files(&helm::chart_dir().join("crds"));
    assert_eq!(
        files.len(),
        1,
        "the chart's crds/ holds only the copy: {files:?}"
    );
}

#[test]
fn helm_lint_is_clean_for_every_value_combination() {
    let cp = ControlPlane::shared();
    let combinations: &[&[&str]] = &[
        &[],
        &[
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
        ],
        &["watchNamespaces={schools-a,schools-b}"],
        &[
            "replicaCount=2",
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
        ],
        &[
            "networkPolicy.enabled=true",
            "metrics.serviceMonitor.enabled=true",
            "grafanaDashboard.enabled=true",
            "prometheusRule.enabled=true",
            "caBundle.configMap=district-ca",
        ],
    ];
    for sets in combinations {
        helm::lint(cp, sets);
    }
}

#[tokio::test]
async fn default_values_render_sqlite_on_a_claim_with_one_replica_and_a_cluster_role() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-default").await;
    let docs = render_and_dry_run(cp, "cls", &ns, &[]);

    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    let expected: BTreeSet<&str> = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolumeClaim",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    ]
    .into();
    assert_eq!(
        kinds, expected,
        "no lease Role with one replica, no optional objects"
    );

    let deployment = helm::one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        helm::env(&docs, "CLASSLINK_STORE").expect("CLASSLINK_STORE")["value"],
        "sqlite:///var/lib/classlink-operator/roster.db"
    );
    assert_eq!(
        helm::env(&docs, "CLASSLINK_LEADER_ELECTION").expect("set")["value"],
        "false"
    );
    assert_eq!(
        helm::env(&docs, "CLASSLINK_NAMESPACES").expect("set")["value"],
        ""
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let claim = helm::one(&docs, "PersistentVolumeClaim");
    assert_eq!(
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == "data")
            .expect("data volume")["persistentVolumeClaim"]["claimName"],
        claim["metadata"]["name"]
    );
    assert_eq!(
        claim["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );

    assert_eq!(
        rules(helm::one(&docs, "ClusterRole")),
        watched_namespace_rules()
    );
    let cluster_role = helm::one(&docs, "ClusterRole");
    assert_eq!(
        cluster_role["metadata"]["name"],
        format!("{ns}-cls-classlink-operator").as_str(),
        "cluster-wide names carry the release namespace"
    );
    let binding = helm::one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], cluster_role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["name"],
        helm::one(&docs, "ServiceAccount")["metadata"]["name"]
    );
    assert_eq!(binding["subjects"][0]["namespace"], ns.as_str());
    assert_eq!(
        helm::one(&docs, "PodDisruptionBudget")["apiVersion"],
        "policy/v1"
    );
}

#[tokio::test]
async fn deployment_is_hardened_and_probes_the_metrics_port() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-hardened").await;
    let docs = render_and_dry_run(cp, "cls", &ns, &["extraArgs={--log-filter=debug}"]);
    let pod = &helm::one(&docs, "Deployment")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());

    assert_eq!(
        container["command"],
        json!(["/usr/local/bin/classlink-operator"])
    );
    assert_eq!(container["args"], json!(["run", "--log-filter=debug"]));
    assert_eq!(container["ports"][0]["name"], "metrics");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        helm::env(&docs, "CLASSLINK_METRICS_ADDRESS").expect("set")["value"],
        "0.0.0.0:8080"
    );
    assert_eq!(
        helm::env(&docs, "POD_NAMESPACE").expect("set")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );

    let mounts: BTreeSet<&str> = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert_eq!(mounts, ["/tmp", "/var/lib/classlink-operator"].into());
    let tmp = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "tmp")
        .expect("tmp");
    assert!(tmp["emptyDir"].is_object(), "{tmp}");

    let service = helm::one(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    for (key, value) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(
            &pod_labels(&docs)[key],
            value,
            "the Service selects the operator's pods"
        );
    }
}

fn pod_labels(docs: &[Value]) -> Value {
    helm::one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].clone()
}

#[tokio::test]
async fn postgres_store_reads_the_url_from_the_existing_secret() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-postgres").await;
    let docs = render_and_dry_run(
        cp,
        "cls",
        &ns,
        &[
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
            "store.postgres.urlKey=database-url",
        ],
    );
    assert_eq!(
        helm::env(&docs, "CLASSLINK_STORE").expect("CLASSLINK_STORE")["valueFrom"]["secretKeyRef"],
        json!({"name": "roster-db", "key": "database-url"})
    );
    assert!(
        helm::of_kind(&docs, "PersistentVolumeClaim").is_empty(),
        "no claim with PostgreSQL"
    );
    let deployment = helm::one(&docs, "Deployment");
    assert!(
        deployment["spec"]["strategy"].is_null(),
        "rolling updates with PostgreSQL"
    );
    let mounts =
        deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(!mounts.contains("/var/lib/classlink-operator"), "{mounts}");
}

#[tokio::test]
async fn restricted_namespaces_get_a_role_each_and_no_cluster_role() {
    let cp = ControlPlane::shared();
    let (client, ns) = release_namespace(cp, "chart-restricted").await;
    let schools_a = cp.namespace(&client, "schools-a").await.expect("namespace");
    let schools_b = cp.namespace(&client, "schools-b").await.expect("namespace");
    let watch = format!("watchNamespaces={{{schools_a},{schools_b}}}");
    let docs = render_and_dry_run(cp, "cls", &ns, &[&watch]);

    assert!(helm::of_kind(&docs, "ClusterRole").is_empty());
    assert!(helm::of_kind(&docs, "ClusterRoleBinding").is_empty());
    let roles = helm::of_kind(&docs, "Role");
    assert_eq!(
        names(&roles),
        [
            format!("{schools_a}/cls-classlink-operator"),
            format!("{schools_b}/cls-classlink-operator")
        ]
        .into()
    );
    for role in roles {
        assert_eq!(rules(role), watched_namespace_rules());
    }
    assert_eq!(names(&helm::of_kind(&docs, "RoleBinding")).len(), 2);
    assert_eq!(
        helm::env(&docs, "CLASSLINK_NAMESPACES").expect("set")["value"],
        format!("{schools_a},{schools_b}").as_str()
    );
}

#[tokio::test]
async fn two_replicas_with_postgres_turn_leader_election_on_with_a_lease_role() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-ha").await;
    let docs = render_and_dry_run(
        cp,
        "cls",
        &ns,
        &[
            "replicaCount=2",
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
        ],
    );
    assert_eq!(helm::one(&docs, "Deployment")["spec"]["replicas"], 2);
    assert_eq!(
        helm::env(&docs, "CLASSLINK_LEADER_ELECTION").expect("set")["value"],
        "true"
    );
    let lease_role = helm::one(&docs, "Role");
    assert_eq!(lease_role["metadata"]["namespace"], ns.as_str());
    assert_eq!(
        rules(lease_role),
        vec![(
            "coordination.k8s.io".to_string(),
            "leases".to_string(),
            verbs(&["get", "create", "update"])
        )]
    );
    assert_eq!(
        helm::one(&docs, "RoleBinding")["roleRef"]["name"],
        lease_role["metadata"]["name"]
    );
    assert_eq!(
        helm::one(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"],
        1
    );
}

#[tokio::test]
async fn optional_network_policy_dashboard_and_ca_bundle_are_accepted() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-optional").await;
    let docs = render_and_dry_run(
        cp,
        "cls",
        &ns,
        &[
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
            "networkPolicy.enabled=true",
            "networkPolicy.apiServer.cidrs={10.0.0.1/32}",
            "networkPolicy.rosterServers.cidrs={203.0.113.0/24}",
            "grafanaDashboard.enabled=true",
            "caBundle.secret=district-ca",
            "leaderElection.force=true",
        ],
    );

    let policy = helm::one(&docs, "NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().expect("egress");
    let allows = |port: u64, cidr: Option<&str>| {
        egress.iter().any(|rule| {
            let port_ok = rule["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["port"] == port));
            let to_ok = match cidr {
                Some(cidr) => rule["to"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|t| t["ipBlock"]["cidr"] == cidr)),
                None => true,
            };
            port_ok && to_ok
        })
    };
    assert!(allows(53, None), "DNS");
    assert!(allows(443, Some("10.0.0.1/32")), "the API server");
    assert!(allows(443, Some("203.0.113.0/24")), "the Roster Servers");
    assert!(allows(5432, None), "PostgreSQL");
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], "metrics");

    assert_eq!(
        helm::env(&docs, "CLASSLINK_CA_FILE").expect("set")["value"],
        "/etc/classlink-operator/ca/ca.crt"
    );
    assert_eq!(
        helm::env(&docs, "CLASSLINK_LEADER_ELECTION").expect("set")["value"],
        "true"
    );

    let dashboard = helm::one(&docs, "ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = dashboard["data"]["classlink-operator.json"]
        .as_str()
        .expect("dashboard JSON");
    let parsed: Value = serde_json::from_str(json).expect("the dashboard is JSON");
    assert_eq!(parsed["uid"], "classlink-operator");
}

#[tokio::test]
async fn service_monitor_scrapes_the_metrics_service() {
    // The ServiceMonitor's CRD (Prometheus Operator) is not on the test API server, so its
    // rendering is checked here and the rest of the rendering with a dry run.
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-monitor").await;
    let manifest = helm::template(
        cp,
        "cls",
        &ns,
        &[
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prom",
        ],
    )
    .expect("renders");
    let docs = helm::documents(&manifest);
    let monitor = helm::one(&docs, "ServiceMonitor");
    let service = helm::one(&docs, "Service");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the Service"
        );
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["honorLabels"], true,
        "the metrics' namespace label is the ClassLinkSync's, not the target's"
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([ns])
    );

    let refused = helm::template(
        cp,
        "cls",
        &ns,
        &[
            "metrics.serviceMonitor.enabled=true",
            "metrics.service.enabled=false",
        ],
    )
    .expect_err("a ServiceMonitor without the Service is refused");
    assert!(
        refused.contains("metrics.serviceMonitor.enabled needs metrics.service.enabled"),
        "{refused}"
    );
}

#[test]
fn sqlite_with_two_replicas_is_refused_with_a_clear_message() {
    let cp = ControlPlane::shared();
    let refused = helm::template(cp, "cls", "default", &["replicaCount=2"]).expect_err("refused");
    assert!(
        refused.contains("replicaCount is 2 but store.type is sqlite")
            && refused.contains("supports exactly one replica")
            && refused.contains("set store.type=postgres and store.postgres.existingSecret"),
        "{refused}"
    );
    // The same values through `helm install` stop before anything reaches the cluster.
    let refused =
        helm::install(cp, "sqlite-ha", "default", &["replicaCount=2"]).expect_err("refused");
    assert!(
        refused.contains("supports exactly one replica"),
        "{refused}"
    );
}

#[test]
fn values_that_cannot_work_are_refused_naming_the_value() {
    let cp = ControlPlane::shared();
    let cases: &[(&[&str], &str)] = &[
        (
            &["store.type=postgres"],
            "store.postgres.existingSecret is empty",
        ),
        (&["store.type=mysql"], "at '/store/type'"),
        (
            &["store.sqlite.persistance.enabled=false"],
            "'persistance' not allowed",
        ),
        (&["replicaCount=-1"], "at '/replicaCount'"),
        (&["logFormat=xml"], "at '/logFormat'"),
        (&["watchNamespaces={Schools_A}"], "at '/watchNamespaces/0'"),
        (
            &["caBundle.configMap=a", "caBundle.secret=b"],
            "caBundle.configMap and caBundle.secret are both set",
        ),
    ];
    for (sets, message) in cases {
        let refused = helm::template(cp, "cls", "default", sets).expect_err("refused");
        assert!(
            refused.contains(message),
            "{sets:?}: expected {message:?} in: {refused}"
        );
    }
}

#[test]
fn dashboard_shows_results_duration_counts_and_last_success_from_the_operator_metrics() {
    let path = helm::chart_dir().join("dashboards/classlink-operator.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");

    let operator = operator_metrics();
    let mut used = BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for metric in metric_names(expr) {
                assert!(
                    served(metric, &operator),
                    "panel {:?} queries {metric}, which the operator does not serve ({operator:?})",
                    panel["title"]
                );
                used.insert(metric.to_owned());
            }
            // Each panel about ClassLinkSyncs follows the dashboard's variables.
            for (at, _) in expr.match_indices("classlink_") {
                let metric = metric_names(&expr[at..])[0];
                if OPERATOR_WIDE.contains(&metric) {
                    continue;
                }
                let selector = &expr[at + metric.len()..];
                assert!(
                    selector.starts_with(r#"{namespace=~"$namespace", name=~"$name""#),
                    "panel {:?} ignores the namespace and name variables: {expr}",
                    panel["title"]
                );
            }
        }
    }
    for wanted in [
        "classlink_sync_total",
        "classlink_sync_duration_seconds_bucket",
        "classlink_last_success_timestamp_seconds",
        "classlink_last_sync_counts",
        "classlink_records_fetched_total",
        "classlink_syncing",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}: {used:?}");
    }
    // The variables list ClassLinkSyncs from a series every one has from its creation on.
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            assert!(query.contains("classlink_ready"), "{query}");
        }
    }

    let titles: Vec<String> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap_or("").to_lowercase())
        .collect();
    for wanted in ["by result", "duration", "counts", "last successful sync"] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel about {wanted}: {titles:?}"
        );
    }
}

/// The `classlink_*` identifiers of a PromQL expression.
fn metric_names(expr: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("classlink_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(&tail[..end]);
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn helm_install_creates_the_release_and_uninstall_removes_it_keeping_the_roster_claim() {
    let cp = ControlPlane::shared();
    let (client, ns) = release_namespace(cp, "chart-install").await;
    let notes = helm::install(cp, "cls", &ns, &[]).expect("helm install");
    // A release of the same name in another namespace gets its own cluster-wide objects.
    let other = cp
        .namespace(&client, "chart-install-other")
        .await
        .expect("namespace");
    helm::install(cp, "cls", &other, &[]).expect("a second release named cls installs");
    helm::uninstall(cp, "cls", &other).expect("helm uninstall");
    assert!(notes.contains("STATUS: deployed"), "{notes}");
    assert!(
        notes.contains("kubectl get classlinksyncs -A"),
        "NOTES tell how to check a sync: {notes}"
    );
    assert!(
        notes.contains("classlink-operator trigger <name> -n <namespace>"),
        "{notes}"
    );

    let listed = cp
        .kubectl()
        .args([
            "get",
            "deployment,service,serviceaccount,pvc,pdb",
            "-n",
            &ns,
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    let listed = String::from_utf8_lossy(&listed.stdout);
    for object in [
        "deployment.apps/cls-classlink-operator",
        "service/cls-classlink-operator-metrics",
        "serviceaccount/cls-classlink-operator",
        "persistentvolumeclaim/cls-classlink-operator-data",
        "poddisruptionbudget.policy/cls-classlink-operator",
    ] {
        assert!(
            listed.contains(object),
            "{object} missing after install:\n{listed}"
        );
    }

    let removed = helm::uninstall(cp, "cls", &ns).expect("helm uninstall");
    assert!(removed.contains("release \"cls\" uninstalled"), "{removed}");
    let left = cp
        .kubectl()
        .args([
            "get",
            "deployment,service,serviceaccount,pvc,pdb",
            "-n",
            &ns,
            "-o",
            "name",
        ])
        .args(["-l", "app.kubernetes.io/instance=cls"])
        .output()
        .expect("kubectl runs");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "persistentvolumeclaim/cls-classlink-operator-data",
        "only the claim holding the roster is kept"
    );
    let cluster_role = cp
        .kubectl()
        .args(["get", "clusterrole,clusterrolebinding"])
        .arg(format!("{ns}-cls-classlink-operator"))
        .output()
        .expect("kubectl runs");
    assert!(
        String::from_utf8_lossy(&cluster_role.stderr).contains("NotFound"),
        "the ClusterRole and its binding are removed: {}",
        String::from_utf8_lossy(&cluster_role.stdout)
    );
    let status = cp
        .helm()
        .args(["status", "cls", "-n", &ns])
        .output()
        .expect("helm runs");
    assert!(!status.status.success(), "the release is gone");
}

#[tokio::test]
async fn service_account_reads_secrets_only_in_watched_namespaces() {
    let cp = ControlPlane::shared();
    let (client, ns) = release_namespace(cp, "chart-rbac").await;
    let watched = cp.namespace(&client, "watched").await.expect("namespace");
    let elsewhere = cp.namespace(&client, "elsewhere").await.expect("namespace");
    for namespace in [&watched, &elsewhere] {
        let out = cp
            .kubectl()
            .args([
                "create",
                "secret",
                "generic",
                "riverside-classlink",
                "-n",
                namespace,
            ])
            .args([
                "--from-literal=clientId=id",
                "--from-literal=clientSecret=secret",
            ])
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let release = "rbac";
    helm::install(
        cp,
        release,
        &ns,
        &[
            &format!("watchNamespaces={{{watched}}}"),
            "leaderElection.force=true",
        ],
    )
    .expect("helm install");
    let operator = ServiceAccountKubeconfig::new(cp, &ns, "rbac-classlink-operator");

    // Where it watches: the resources, their status, the credentials' Secret, Events.
    let listed = operator
        .kubectl()
        .args(["get", "classlinksyncs,schoolexclusions", "-n", &watched])
        .output()
        .expect("kubectl runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let secret = operator
        .kubectl()
        .args([
            "get",
            "secret",
            "riverside-classlink",
            "-n",
            &watched,
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        secret.status.success(),
        "{}",
        String::from_utf8_lossy(&secret.stderr)
    );
    for (verb, resource, subresource) in [
        ("watch", "classlinksyncs.rostersync.io", None),
        ("patch", "classlinksyncs.rostersync.io", Some("status")),
        ("update", "classlinksyncs.rostersync.io", Some("finalizers")),
        ("patch", "schoolexclusions.rostersync.io", Some("status")),
        ("watch", "secrets", None),
        ("create", "events.events.k8s.io", None),
        ("patch", "events.events.k8s.io", None),
    ] {
        let mut args = vec![verb, resource, "-n", watched.as_str()];
        if let Some(sub) = subresource {
            args.extend(["--subresource", sub]);
        }
        assert!(operator.can_i(&args), "cannot {args:?}");
    }
    // Not more than it needs there.
    for cannot in [
        ["create", "secrets"],
        ["update", "secrets"],
        ["delete", "classlinksyncs.rostersync.io"],
        ["create", "classlinksyncs.rostersync.io"],
        ["create", "events"],
    ] {
        assert!(
            !operator.can_i(&[cannot[0], cannot[1], "-n", &watched]),
            "can {cannot:?} in {watched}"
        );
    }

    // Elsewhere: no Secret, no ClassLinkSync.
    let denied = operator
        .kubectl()
        .args(["get", "secret", "riverside-classlink", "-n", &elsewhere])
        .output()
        .expect("kubectl runs");
    assert!(
        !denied.status.success(),
        "read a Secret of a namespace it does not watch"
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Forbidden"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(!operator.can_i(&["list", "secrets", "-n", &elsewhere]));
    assert!(!operator.can_i(&["list", "secrets", "-A"]));
    assert!(!operator.can_i(&["list", "classlinksyncs.rostersync.io", "-n", &elsewhere]));

    // Its lease, in the release namespace only.
    assert!(operator.can_i(&["create", "leases.coordination.k8s.io", "-n", &ns]));
    assert!(operator.can_i(&["update", "leases.coordination.k8s.io", "-n", &ns]));
    assert!(!operator.can_i(&["delete", "leases.coordination.k8s.io", "-n", &ns]));
    assert!(!operator.can_i(&["create", "leases.coordination.k8s.io", "-n", &watched]));

    helm::uninstall(cp, release, &ns).expect("helm uninstall");
    // The authorizer sees the deleted RoleBinding within moments.
    let revoked = (0..50).any(|_| {
        let allowed = operator.can_i(&["get", "secrets", "-n", &watched]);
        if allowed {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        !allowed
    });
    assert!(revoked, "uninstall removes the grants");
}

#[tokio::test]
async fn service_account_with_all_namespaces_reads_classlinksyncs_everywhere_but_writes_no_secret()
{
    let cp = ControlPlane::shared();
    let (client, ns) = release_namespace(cp, "chart-cluster").await;
    let school = cp.namespace(&client, "school").await.expect("namespace");
    let release = "cluster";
    helm::install(cp, release, &ns, &[]).expect("helm install");
    let operator = ServiceAccountKubeconfig::new(cp, &ns, "cluster-classlink-operator");

    assert!(operator.can_i(&["list", "classlinksyncs.rostersync.io", "-A"]));
    assert!(operator.can_i(&["watch", "secrets", "-A"]));
    assert!(operator.can_i(&["get", "secrets", "-n", &school]));
    assert!(!operator.can_i(&["create", "secrets", "-n", &school]));
    assert!(!operator.can_i(&["delete", "schoolexclusions.rostersync.io", "-n", &school]));
    assert!(!operator.can_i(&["list", "configmaps", "-n", &school]));
    // One replica and no forced leader election: no Lease access at all.
    assert!(!operator.can_i(&["create", "leases.coordination.k8s.io", "-n", &ns]));

    helm::uninstall(cp, release, &ns).expect("helm uninstall");
}

/// The `PrometheusRule`'s groups, as a Prometheus rule file.
fn rule_file(cp: &ControlPlane, ns: &str, sets: &[&str]) -> Value {
    let manifest = helm::template(cp, "cls", ns, sets).expect("renders");
    let docs = helm::documents(&manifest);
    let rule = helm::one(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    rule["spec"].clone()
}

#[tokio::test]
async fn the_prometheus_rule_is_valid_and_alerts_only_on_metrics_the_operator_serves() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-rules").await;
    let without = helm::template(cp, "cls", &ns, &[]).expect("renders");
    assert!(
        helm::of_kind(&helm::documents(&without), "PrometheusRule").is_empty(),
        "off by default"
    );
    let spec = rule_file(
        cp,
        &ns,
        &[
            "prometheusRule.enabled=true",
            "prometheusRule.alertLabels.team=platform",
        ],
    );

    // promtool (Debian's prometheus package) parses the expressions and templates.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, serde_yaml::to_string(&spec).expect("YAML")).expect("write");
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool: {e}; install Debian's prometheus package (hack/install-test-tools.sh does)")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SUCCESS: 5 rules found"), "{said}");

    let operator = operator_metrics();
    let rules = spec["groups"][0]["rules"].as_array().expect("rules");
    let alerts: BTreeSet<&str> = rules
        .iter()
        .map(|r| r["alert"].as_str().expect("an alert"))
        .collect();
    assert_eq!(
        alerts,
        BTreeSet::from([
            "ClassLinkSyncFailing",
            "ClassLinkSyncNoSuccessIn26Hours",
            "ClassLinkSyncNeverSucceeded",
            "ClassLinkOperatorDown",
            "ClassLinkSyncsWaitingForCapacity",
        ])
    );
    for rule in rules {
        let expr = rule["expr"].as_str().expect("expr");
        let names = metric_names(expr);
        if rule["alert"] == "ClassLinkOperatorDown" {
            assert!(
                expr.contains(&format!(
                    r#"up{{job="cls-classlink-operator-metrics", namespace="{ns}"}}"#
                )),
                "the ServiceMonitor's job: {expr}"
            );
        } else {
            assert!(!names.is_empty(), "{expr}");
        }
        for metric in names {
            assert!(
                served(metric, &operator),
                "{} names {metric}, which the operator does not serve",
                rule["alert"]
            );
        }
        assert_eq!(rule["labels"]["team"], "platform");
        // Suspended ClassLinkSyncs stay quiet.
        if expr.contains("classlink_last_success") || expr.contains("classlink_ready") {
            assert!(expr.contains("unless classlink_suspended == 1"), "{expr}");
        }
    }
}

#[tokio::test]
async fn shards_each_get_a_deployment_with_their_selector_and_lease_and_install_for_real() {
    let cp = ControlPlane::shared();
    let (_client, ns) = release_namespace(cp, "chart-shards").await;
    let sets = [
        "store.type=postgres",
        "store.postgres.existingSecret=roster-db",
        "shards={east,west}",
        "networkPolicy.enabled=true",
    ];
    let docs = render_and_dry_run(cp, "cls", &ns, &sets);
    let deployments = helm::of_kind(&docs, "Deployment");
    assert_eq!(
        names(&deployments),
        ["", "-shard-east", "-shard-west"]
            .iter()
            .map(|suffix| format!("{ns}/cls-classlink-operator{suffix}"))
            .collect::<BTreeSet<_>>()
    );
    let env_of = |deployment: &Value, name: &str| -> Option<String> {
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str().map(str::to_owned))
    };
    let mut selectors = Vec::new();
    for deployment in &deployments {
        let name = deployment["metadata"]["name"].as_str().expect("name");
        let shard = name.strip_prefix("cls-classlink-operator-shard-");
        assert_eq!(
            env_of(deployment, "CLASSLINK_WATCH_LABEL_SELECTOR"),
            shard.map(|s| format!("rostersync.io/shard={s}")),
            "{name}: the main Deployment keeps the operator's default (!rostersync.io/shard)"
        );
        assert_eq!(
            env_of(deployment, "CLASSLINK_LEASE_NAME"),
            shard.map(|s| format!("classlink-operator-shard-{s}")),
            "{name}: a Lease of its own"
        );
        let selector = deployment["spec"]["selector"]["matchLabels"].clone();
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]
                .as_object()
                .map(|labels| selector
                    .as_object()
                    .expect("matchLabels")
                    .iter()
                    .all(|(k, v)| labels.get(k) == Some(v))),
            Some(true),
            "{name} selects its own pods"
        );
        selectors.push((name.to_owned(), selector));
    }
    // No Deployment selects another's pods.
    for (name, selector) in &selectors {
        for other in &deployments {
            let other_name = other["metadata"]["name"].as_str().expect("name");
            if other_name == name {
                continue;
            }
            let labels = &other["spec"]["template"]["metadata"]["labels"];
            let overlaps = selector
                .as_object()
                .expect("matchLabels")
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v));
            assert!(!overlaps, "{name} would select the pods of {other_name}");
        }
    }
    // The shards' pods are scraped and covered by the NetworkPolicy.
    let services = names(&helm::of_kind(&docs, "Service"));
    assert!(
        services.contains(&format!("{ns}/cls-classlink-operator-shards-metrics")),
        "{services:?}"
    );
    let policy = helm::one(&docs, "NetworkPolicy");
    let values = &policy["spec"]["podSelector"]["matchExpressions"][0]["values"];
    assert_eq!(
        values,
        &serde_json::json!(["classlink-operator", "classlink-operator-shard"])
    );

    // And a real install (no kubelet here: the Deployments exist, their pods never run).
    helm::install(cp, "cls", &ns, &sets).expect("helm install with shards");
    let listed = cp
        .kubectl()
        .args(["get", "deployments", "-n", &ns, "-o", "name"])
        .output()
        .expect("kubectl runs");
    let listed = String::from_utf8_lossy(&listed.stdout);
    for name in [
        "cls-classlink-operator",
        "cls-classlink-operator-shard-east",
        "cls-classlink-operator-shard-west",
    ] {
        assert!(
            listed.contains(&format!("deployment.apps/{name}\n")),
            "{listed}"
        );
    }
    helm::uninstall(cp, "cls", &ns).expect("helm uninstall");
}

#[test]
fn shards_are_refused_on_sqlite_and_bad_shard_names_are_refused() {
    let cp = ControlPlane::shared();
    let err =
        helm::template(cp, "cls", "default", &["shards={east}"]).expect_err("shards on SQLite");
    assert!(err.contains("shards need store.type=postgres"), "{err}");
    let err = helm::template(
        cp,
        "cls",
        "default",
        &[
            "store.type=postgres",
            "store.postgres.existingSecret=roster-db",
            "shards={East_1}",
        ],
    )
    .expect_err("a bad shard name");
    assert!(err.contains("East_1"), "{err}");
}
