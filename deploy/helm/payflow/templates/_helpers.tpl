{{/*
Names. The full name is cut to 52 characters so that it and the longest
suffix (-receiver) stay within Kubernetes' 63.
*/}}
{{- define "payflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "payflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "payflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; call with (dict "root" $ "component" "receiver"). */}}
{{- define "payflow.labels" -}}
helm.sh/chart: {{ include "payflow.chart" .root }}
{{ include "payflow.selectorLabels" . }}
app.kubernetes.io/version: {{ include "payflow.imageTag" .root | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: payflow
{{- end }}

{{/* Selector labels: stable across upgrades; call like payflow.labels. */}}
{{- define "payflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "payflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* The label that marks the Services the ServiceMonitor scrapes. */}}
{{- define "payflow.metricsLabel" -}}
payflow/metrics: "true"
{{- end }}

{{/*
The scrape job of a component's metrics (the ServiceMonitor's jobLabel):
payflow-receiver or payflow-worker whatever the release is called, the job
names deploy/prometheus and deploy/grafana query.
*/}}
{{- define "payflow.jobLabel" -}}
payflow/job: payflow-{{ . }}
{{- end }}

{{- define "payflow.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "payflow.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "payflow.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "payflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "payflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The migrate Job's ServiceAccount: a hook of its own when the chart
creates ServiceAccounts (the release's does not exist yet at pre-install). */}}
{{- define "payflow.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- printf "%s-migrate" (include "payflow.fullname" .) }}
{{- else }}
{{- include "payflow.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/* The Secret the containers' secret variables come from. */}}
{{- define "payflow.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "payflow.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret: name the Secret holding payflow's secrets, or set secrets.create=true with secrets.values" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/* The chart-created Secret's copy the migrate hook reads (the release's
Secret does not exist yet at pre-install). */}}
{{- define "payflow.migrateSecretName" -}}
{{- printf "%s-migrate" (include "payflow.fullname" .) }}
{{- end }}

{{/*
Every variable payflow treats as a secret (config.Vars with Secret set, and
Temporal's API key and client key data): never in the ConfigMap or a plain
env value. The chart's check keeps this list in step with config/config.go.
*/}}
{{- define "payflow.secretVarNames" -}}
STRIPE_WEBHOOK_SECRET STRIPE_API_KEY SENDGRID_API_KEY PAYFLOW_LINK_SECRET DATABASE_URL PAYFLOW_PAYLOAD_KEYS PAYFLOW_CODEC_AUTH_TOKEN PROVISIONING_WEBHOOK_SECRET OTEL_EXPORTER_OTLP_HEADERS TEMPORAL_API_KEY TEMPORAL_TLS_CLIENT_KEY_DATA
{{- end }}

{{/* Variables the chart sets itself from other values. */}}
{{- define "payflow.managedVarNames" -}}
TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_TASK_QUEUE PAYFLOW_ADDR PAYFLOW_METRICS_ADDR
{{- end }}

{{- define "payflow.tlsMountPath" -}}/etc/payflow/temporal-tls{{- end }}
{{- define "payflow.caMountPath" -}}/etc/payflow/temporal-ca{{- end }}

{{/*
The non-secret configuration as a YAML map: config.env (empty values left
out) and what the chart derives from ports and temporal. The ConfigMap
holds it; the migrate Job gets it inline.
*/}}
{{- define "payflow.configData" -}}
{{- $secretVars := splitList " " (include "payflow.secretVarNames" .) }}
{{- $managed := splitList " " (include "payflow.managedVarNames" .) }}
{{- $data := dict }}
{{- range $k, $v := .Values.config.env }}
{{- if has $k $secretVars }}
{{- fail (printf "config.env.%s is a secret: put it in the Secret (secrets.existingSecret, or secrets.values with secrets.create), never in config.env" $k) }}
{{- end }}
{{- if or (has $k $managed) (hasPrefix "TEMPORAL_TLS" $k) }}
{{- fail (printf "config.env.%s is set by the chart (ports, temporal): set it there" $k) }}
{{- end }}
{{- if not (regexMatch "^[A-Z][A-Z0-9_]*$" $k) }}
{{- fail (printf "config.env.%s: not an environment variable name payflow reads" $k) }}
{{- end }}
{{- if kindIs "string" $v }}
{{- if $v }}
{{- $_ := set $data $k $v }}
{{- end }}
{{- else if not (kindIs "invalid" $v) }}
{{- fail (printf "config.env.%s: quote the value, it must be a string (got %v)" $k $v) }}
{{- end }}
{{- end }}
{{- $_ := set $data "TEMPORAL_ADDRESS" (required "temporal.address is required" .Values.temporal.address) }}
{{- $_ := set $data "TEMPORAL_NAMESPACE" (required "temporal.namespace is required" .Values.temporal.namespace) }}
{{- $_ := set $data "TEMPORAL_TASK_QUEUE" (required "temporal.taskQueue is required" .Values.temporal.taskQueue) }}
{{- $_ := set $data "PAYFLOW_ADDR" (printf ":%d" (int .Values.ports.http)) }}
{{- $_ := set $data "PAYFLOW_METRICS_ADDR" (printf ":%d" (int .Values.ports.metrics)) }}
{{- with .Values.temporal.tls }}
{{- if .enabled }}
{{- $_ := set $data "TEMPORAL_TLS" "true" }}
{{- end }}
{{- if .serverName }}
{{- $_ := set $data "TEMPORAL_TLS_SERVER_NAME" .serverName }}
{{- end }}
{{- if .disableHostVerification }}
{{- $_ := set $data "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION" "true" }}
{{- end }}
{{- if .clientCertSecret }}
{{- $_ := set $data "TEMPORAL_TLS_CLIENT_CERT_PATH" (printf "%s/tls.crt" (include "payflow.tlsMountPath" $)) }}
{{- $_ := set $data "TEMPORAL_TLS_CLIENT_KEY_PATH" (printf "%s/tls.key" (include "payflow.tlsMountPath" $)) }}
{{- end }}
{{- if .serverCASecret }}
{{- $_ := set $data "TEMPORAL_TLS_SERVER_CA_CERT_PATH" (printf "%s/%s" (include "payflow.caMountPath" $) .serverCAKey) }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
Secret variables of one process as env entries, each a secretKeyRef.
Call with (dict "root" $ "component" "receiver"|"worker"|"migrate").
Which process gets which: the receiver verifies webhooks and writes
payloads; the worker and migrate reach the database. Every process loads
and validates the whole configuration at start, so the secrets that
validation pairs with non-secret settings (PROVISIONING_WEBHOOK_SECRET with
PROVISIONING_WEBHOOK_URL, PAYFLOW_LINK_SECRET with the portal URLs,
STRIPE_API_KEY with STRIPE_LIVEMODE) go to each.
With a chart-created Secret only keys it holds are referenced; with an
existing Secret the optional ones are `optional: true`.
*/}}
{{- define "payflow.secretEnv" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $payloadOptional := eq (lower (toString (index $v.config.env "PAYFLOW_PAYLOAD_ENCRYPTION" | default ""))) "off" }}
{{- $vars := list }}
{{- if eq .component "receiver" }}
{{- $vars = list (dict "name" "STRIPE_WEBHOOK_SECRET" "required" true) (dict "name" "PAYFLOW_PAYLOAD_KEYS" "required" (not $payloadOptional)) (dict "name" "STRIPE_API_KEY") (dict "name" "PAYFLOW_LINK_SECRET") (dict "name" "PROVISIONING_WEBHOOK_SECRET") (dict "name" "OTEL_EXPORTER_OTLP_HEADERS") }}
{{- else if eq .component "worker" }}
{{- $vars = list (dict "name" "PAYFLOW_PAYLOAD_KEYS" "required" (not $payloadOptional)) (dict "name" "DATABASE_URL" "required" true) (dict "name" "STRIPE_API_KEY") (dict "name" "SENDGRID_API_KEY") (dict "name" "PAYFLOW_LINK_SECRET") (dict "name" "PROVISIONING_WEBHOOK_SECRET") (dict "name" "OTEL_EXPORTER_OTLP_HEADERS") }}
{{- else if eq .component "migrate" }}
{{- $vars = list (dict "name" "DATABASE_URL" "required" true) (dict "name" "STRIPE_API_KEY") (dict "name" "SENDGRID_API_KEY") (dict "name" "PAYFLOW_LINK_SECRET") (dict "name" "PROVISIONING_WEBHOOK_SECRET") }}
{{- else }}
{{- fail (printf "payflow.secretEnv: unknown component %q" .component) }}
{{- end }}
{{- if $v.temporal.apiKey.enabled }}
{{- $vars = append $vars (dict "name" "TEMPORAL_API_KEY" "required" true) }}
{{- end }}
{{- $chartSecret := include "payflow.secretName" $root }}
{{- if and $v.secrets.create (eq .component "migrate") }}
{{- $chartSecret = include "payflow.migrateSecretName" $root }}
{{- end }}
{{- range $vars }}
{{- $secret := $chartSecret }}
{{- $key := .name }}
{{- $own := $v.secrets.create }}
{{- if and (eq .name "DATABASE_URL") $v.database.secretName }}
{{- $secret = $v.database.secretName }}
{{- $key = required "database.secretKey: the key of database.secretName holding the URL" $v.database.secretKey }}
{{- $own = false }}
{{- end }}
{{- if and (eq .name "TEMPORAL_API_KEY") $v.temporal.apiKey.secretName }}
{{- $secret = $v.temporal.apiKey.secretName }}
{{- $key = required "temporal.apiKey.secretKey: the key of temporal.apiKey.secretName holding the key" $v.temporal.apiKey.secretKey }}
{{- $own = false }}
{{- end }}
{{- $emit := true }}
{{- if $own }}
{{- $val := index $v.secrets.values .name | default "" }}
{{- if not $val }}
{{- $emit = false }}
{{- if .required }}
{{- fail (printf "secrets.values.%s is required with secrets.create=true" .name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $emit }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      {{- if and (not $own) (not .required) }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes every payflow pod mounts: a writable /tmp and Temporal's TLS files. */}}
{{- define "payflow.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.temporal.tls.clientCertSecret }}
- name: temporal-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if .Values.temporal.tls.serverCASecret }}
- name: temporal-ca
  secret:
    secretName: {{ .Values.temporal.tls.serverCASecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.temporal.tls.serverCAKey }}
        path: {{ .Values.temporal.tls.serverCAKey }}
{{- end }}
{{- end }}

{{- define "payflow.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.clientCertSecret }}
- name: temporal-tls
  mountPath: {{ include "payflow.tlsMountPath" . }}
  readOnly: true
{{- end }}
{{- if .Values.temporal.tls.serverCASecret }}
- name: temporal-ca
  mountPath: {{ include "payflow.caMountPath" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Spread a component's replicas over nodes, softly. */}}
{{- define "payflow.spread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "payflow.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "payflow.checksums" -}}
checksum/config: {{ include "payflow.configData" . | sha256sum }}
{{- if .Values.secrets.create }}
checksum/secret: {{ toJson .Values.secrets.values | sha256sum }}
{{- end }}
{{- end }}
