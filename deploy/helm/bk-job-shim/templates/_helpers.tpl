{{/* Names and labels. */}}
{{- define "bk-job-shim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bk-job-shim.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "bk-job-shim.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "bk-job-shim.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bk-job-shim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bk-job-shim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bk-job-shim.labels" -}}
{{ include "bk-job-shim.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "bk-job-shim.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Secrets: where the app secret and the Redis URL come from (empty = not used). */}}
{{- define "bk-job-shim.appSecretName" -}}
{{- if eq .Values.auth.mode "app" -}}
{{- if .Values.auth.appSecret.existingSecret -}}{{ .Values.auth.appSecret.existingSecret }}
{{- else if .Values.auth.appSecret.value -}}{{ include "bk-job-shim.fullname" . }}
{{- else -}}{{ fail "auth.mode = app needs auth.appSecret.value or auth.appSecret.existingSecret" }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bk-job-shim.redisSecretName" -}}
{{- if .Values.rateLimit.redisUrlSecret.existingSecret -}}{{ .Values.rateLimit.redisUrlSecret.existingSecret }}
{{- else if .Values.rateLimit.redisUrlSecret.value -}}{{ include "bk-job-shim.fullname" . }}
{{- end -}}
{{- end -}}

{{/* The configuration file. Strings go through toJson: a JSON string is a TOML string. */}}
{{- define "bk-job-shim.config" -}}
[server]
listen = {{ ternary "127.0.0.1:8080" "0.0.0.0:8080" (eq .Values.mode "sidecar") | toJson }}
admin_listen = "0.0.0.0:9090"
max_body_bytes = {{ .Values.server.maxBodyBytes | int64 }}
shutdown_grace = "{{ .Values.server.shutdownGraceSeconds | int64 }}s"
max_connections = {{ .Values.server.maxConnections | int64 }}
worker_threads = {{ ternary 1 .Values.server.workerThreads (eq .Values.mode "sidecar") | int64 }}

[upstream]
url = {{ .Values.upstream.url | toJson }}
timeout = {{ .Values.upstream.timeout | toJson }}
connect_timeout = {{ .Values.upstream.connectTimeout | toJson }}

[upstream.headers]
{{- range $name, $value := .Values.upstream.headers }}
{{ $name | toJson }} = {{ $value | toJson }}
{{- end }}

[legacy]
steps = {{ .Values.legacy.steps | toJson }}
error_status = {{ .Values.legacy.errorStatus | toJson }}
timezone = {{ .Values.legacy.timezone | toJson }}

[auth]
mode = {{ .Values.auth.mode | toJson }}
allowed_apps = {{ .Values.auth.allowedApps | toJson }}
app_code = {{ .Values.auth.appCode | toJson }}
app_secret_env = "BK_JOB_SHIM_APP_SECRET"
system_api = {{ .Values.auth.systemApi }}
callback_hosts = {{ .Values.auth.callbackHosts | toJson }}

[rate_limit]
backend = {{ .Values.rateLimit.backend | toJson }}
redis_url = {{ .Values.rateLimit.redisUrl | toJson }}
fail_open = {{ .Values.rateLimit.failOpen }}

[rate_limit.rates]
{{- range $app, $windows := .Values.rateLimit.rates }}
{{ $app | toJson }} = [
{{- range $i, $w := $windows }}{{ if $i }}, {{ end }}{ period = {{ $w.period | int64 }}, tokens = {{ $w.tokens | int64 }} }{{ end -}}
]
{{- end }}

[log]
format = {{ .Values.log.format | toJson }}
filter = {{ .Values.log.filter | toJson }}
{{- with .Values.extraConfig }}

{{ . }}
{{- end }}
{{- end -}}

{{/* Environment of the shim container: secrets by reference, then extraEnv. */}}
{{- define "bk-job-shim.env" -}}
{{- with include "bk-job-shim.appSecretName" . }}
- name: BK_JOB_SHIM_APP_SECRET
  valueFrom:
    secretKeyRef: { name: {{ . }}, key: {{ $.Values.auth.appSecret.key }} }
{{- end }}
{{- with include "bk-job-shim.redisSecretName" . }}
- name: BK_JOB_SHIM_RATE_LIMIT__REDIS_URL
  valueFrom:
    secretKeyRef: { name: {{ . }}, key: {{ $.Values.rateLimit.redisUrlSecret.key }} }
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bk-job-shim.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: ["ALL"] }
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "bk-job-shim.volumeMounts" -}}
- { name: bk-job-shim-config, mountPath: /etc/bk-job-shim, readOnly: true }
{{- if .Values.upstream.tlsSecret }}
- { name: bk-job-shim-tls, mountPath: /etc/bk-job-shim/tls, readOnly: true }
{{- end }}
{{- end -}}

{{- define "bk-job-shim.volumes" -}}
- name: bk-job-shim-config
  configMap: { name: {{ include "bk-job-shim.fullname" . }} }
{{- if .Values.upstream.tlsSecret }}
- name: bk-job-shim-tls
  secret: { secretName: {{ .Values.upstream.tlsSecret }} }
{{- end }}
{{- end -}}

{{/* Probes on the admin port. */}}
{{- define "bk-job-shim.probes" -}}
startupProbe:
  httpGet: { path: /readyz, port: {{ .port }} }
  periodSeconds: 1
  failureThreshold: 30
readinessProbe:
  httpGet: { path: /readyz, port: {{ .port }} }
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  httpGet: { path: /livez, port: {{ .port }} }
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}

{{/*
The native sidecar: one entry of a Pod's initContainers (Kubernetes >= 1.29). Also
usable from an umbrella chart: include "bk-job-shim.sidecar" (index .Subcharts "bk-job-shim")
plus the volume from "bk-job-shim.volumes".
*/}}
{{- define "bk-job-shim.sidecar" -}}
- name: bk-job-shim
  image: {{ include "bk-job-shim.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  restartPolicy: Always
  args: ["serve", "--config", "/etc/bk-job-shim/bk-job-shim.toml"]
  {{- with include "bk-job-shim.env" . }}
  env:
    {{- . | nindent 4 }}
  {{- end }}
  ports:
    - { name: shim-admin, containerPort: 9090, protocol: TCP }
  {{- include "bk-job-shim.probes" (dict "port" "shim-admin") | nindent 2 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    {{- include "bk-job-shim.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "bk-job-shim.volumeMounts" . | nindent 4 }}
{{- end -}}
