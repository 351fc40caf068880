{{/* Name of the chart, or nameOverride. */}}
{{- define "classlink-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "classlink-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "classlink-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "classlink-operator.labels" -}}
helm.sh/chart: {{ include "classlink-operator.chart" . }}
{{ include "classlink-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "classlink-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "classlink-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels a Deployment's pods are selected by: the chart's for the main Deployment, and for a
shard's pods a name of their own, so that no two Deployments select the same pods. Takes a
dict with "root" and "shard".
*/}}
{{- define "classlink-operator.podSelectorLabels" -}}
{{- if .shard -}}
app.kubernetes.io/name: {{ include "classlink-operator.name" .root }}-shard
app.kubernetes.io/instance: {{ .root.Release.Name }}
rostersync.io/shard: {{ .shard }}
{{- else -}}
{{ include "classlink-operator.selectorLabels" .root }}
{{- end }}
{{- end }}

{{- define "classlink-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "classlink-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Leader election: on with more than one replica, or when forced. Prints "true" or "false".
*/}}
{{- define "classlink-operator.leaderElection" -}}
{{- if or .Values.leaderElection.force (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* Name of the SQLite claim, created or existing. */}}
{{- define "classlink-operator.sqliteClaim" -}}
{{- with .Values.store.sqlite.persistence.existingClaim }}{{ . }}{{ else }}{{ include "classlink-operator.fullname" . }}-data{{ end }}
{{- end }}

{{/*
Cross-field rules of the values. Each message says what is wrong and what to set instead.
Included by the Deployment, so every rendering checks them.
*/}}
{{- define "classlink-operator.validate" -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d but store.type is sqlite: SQLite is a single file on a ReadWriteOnce volume and supports exactly one replica. To run several replicas with leader election, set store.type=postgres and store.postgres.existingSecret to a Secret holding the PostgreSQL URL." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq .Values.store.type "postgres") (not .Values.store.postgres.existingSecret) }}
{{- fail "store.type is postgres but store.postgres.existingSecret is empty: name an existing Secret in the release namespace whose key store.postgres.urlKey holds the postgres:// URL." }}
{{- end }}
{{- if and .Values.shards (eq .Values.store.type "sqlite") }}
{{- fail "shards are set but store.type is sqlite: every shard writes the same roster store, so shards need store.type=postgres." }}
{{- end }}
{{- range .Values.shards }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$" (toString .)) }}
{{- fail (printf "shards: %q is not a valid shard name: use lower-case letters, digits and '-', at most 32 characters (it becomes a label value and part of a Deployment's name)." (toString .)) }}
{{- end }}
{{- end }}
{{- if and .Values.caBundle.configMap .Values.caBundle.secret }}
{{- fail "caBundle.configMap and caBundle.secret are both set: the extra CA bundle comes from one of them." }}
{{- end }}
{{- end }}

{{/* The namespaced rules the operator needs where it watches. */}}
{{- define "classlink-operator.namespacedRules" -}}
- apiGroups: ["rostersync.io"]
  resources: ["classlinksyncs", "schoolexclusions"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["rostersync.io"]
  resources: ["classlinksyncs/status", "schoolexclusions/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["rostersync.io"]
  resources: ["classlinksyncs/finalizers"]
  verbs: ["update"]
# A ClassLinkSync's credentials. The operator watches Secrets' metadata only, to sync again
# when a referenced Secret changes, and reads the one a ClassLinkSync names.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
