{{/*
The four components, in port order. Each has an entry under .Values.services.
*/}}
{{- define "kompass.components" -}}
tenancy assessment projects reporting
{{- end -}}

{{/*
Chart name.
*/}}
{{- define "kompass.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 52 characters so that
"<fullname>-<component>" (longest suffix "-assessment", 11 chars) stays within
the 63-character DNS label limit.
*/}}
{{- define "kompass.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "kompass.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "kompass.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Common labels. Call with the root context.
*/}}
{{- define "kompass.labels" -}}
helm.sh/chart: {{ include "kompass.chart" . }}
app.kubernetes.io/name: {{ include "kompass.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kompass
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of one component. Call with (dict "root" $ "component" "tenancy").
*/}}
{{- define "kompass.componentLabels" -}}
{{ include "kompass.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component (immutable: never add to these).
Call with (dict "root" $ "component" "tenancy").
*/}}
{{- define "kompass.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kompass.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of one component's objects: <fullname>-<component>.
*/}}
{{- define "kompass.componentName" -}}
{{- printf "%s-%s" (include "kompass.fullname" .root) .component }}
{{- end }}

{{/*
ServiceAccount used by the service pods.
*/}}
{{- define "kompass.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kompass.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
In-cluster URL of one component. Call with (dict "root" $ "component" "tenancy").
*/}}
{{- define "kompass.serviceUrl" -}}
{{- $override := index .root.Values.config.serviceUrls .component }}
{{- if $override }}
{{- $override }}
{{- else }}
{{- printf "http://%s:%d" (include "kompass.componentName" .) (int (index .root.Values.services .component).port) }}
{{- end }}
{{- end }}

{{/*
Non-secret env vars as a flat YAML map (all values quoted strings). Used as
the ConfigMap's data and inlined into the migrate hook Job (which runs before
the ConfigMap exists on first install).
*/}}
{{- define "kompass.configData" -}}
{{- $c := .Values.config -}}
KOMPASS_LISTEN_HOST: {{ $c.listenHost | quote }}
KOMPASS_TENANCY_PORT: {{ .Values.services.tenancy.port | int | quote }}
KOMPASS_ASSESSMENT_PORT: {{ .Values.services.assessment.port | int | quote }}
KOMPASS_PROJECTS_PORT: {{ .Values.services.projects.port | int | quote }}
KOMPASS_REPORTING_PORT: {{ .Values.services.reporting.port | int | quote }}
KOMPASS_TENANT_DB_PREFIX: {{ $c.tenantDbPrefix | quote }}
KOMPASS_DB_MAX_CONNECTIONS: {{ $c.dbMaxConnections | int | quote }}
KOMPASS_DB_POOL_SIZE: {{ $c.dbPoolSize | int | quote }}
KOMPASS_DB_IDLE_TIMEOUT_SECS: {{ $c.dbIdleTimeoutSecs | int | quote }}
KOMPASS_DB_SSLMODE: {{ $c.dbSslMode | quote }}
KOMPASS_DB_STATEMENT_TIMEOUT_MS: {{ $c.dbStatementTimeoutMs | int | quote }}
KOMPASS_MAX_CONCURRENT_REQUESTS: {{ $c.maxConcurrentRequests | int | quote }}
{{- with $c.jwt.issuer }}
KOMPASS_JWT_ISSUER: {{ . | quote }}
{{- end }}
{{- with $c.jwt.audience }}
KOMPASS_JWT_AUDIENCE: {{ . | quote }}
{{- end }}
{{- with $c.jwt.jwksUrl }}
KOMPASS_JWKS_URL: {{ . | quote }}
{{- end }}
{{- with $c.otlpEndpoint }}
KOMPASS_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
KOMPASS_LOG_FORMAT: {{ $c.log.format | quote }}
KOMPASS_LOG: {{ $c.log.filter | quote }}
{{- range $svc := splitList " " (include "kompass.components" .) }}
KOMPASS_{{ upper $svc }}_URL: {{ include "kompass.serviceUrl" (dict "root" $ "component" $svc) | quote }}
{{- end }}
{{- range $k, $v := $c.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates the Secret (no existingSecret given).
Fails early when neither an existing Secret nor the required values are given.
*/}}
{{- define "kompass.createSecret" -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $_ := required "secrets.databaseUrl is required when secrets.existingSecret is not set" .Values.secrets.databaseUrl -}}
{{- $_ := required "secrets.redisUrl is required when secrets.existingSecret is not set" .Values.secrets.redisUrl -}}
true
{{- end -}}
{{- end }}

{{/*
Name of the Secret the service pods read.
*/}}
{{- define "kompass.secretName" -}}
{{- default (include "kompass.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Name of the Secret the migrate hook Job reads: the existing Secret, or a
hook-scoped copy of the chart-created one (the regular Secret does not exist
yet when pre-install hooks run).
*/}}
{{- define "kompass.migrateSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-migrate" (include "kompass.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Secret data (base64) for a chart-created Secret; only non-empty values.
*/}}
{{- define "kompass.secretData" -}}
{{- $s := .Values.secrets -}}
{{ $s.keys.databaseUrl }}: {{ $s.databaseUrl | b64enc | quote }}
{{ $s.keys.redisUrl }}: {{ $s.redisUrl | b64enc | quote }}
{{- with $s.databaseServers }}
{{ $s.keys.databaseServers }}: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.analyticsDatabaseUrl }}
{{ $s.keys.analyticsDatabaseUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.jwtSecret }}
{{ $s.keys.jwtSecret }}: {{ . | b64enc | quote }}
{{- end }}
{{- with $s.oidcClientSecret }}
{{ $s.keys.oidcClientSecret }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Secret env vars (a YAML list of env entries). The optional ones are
marked optional so an existing Secret may leave them out.
Call with (dict "root" $ "secretName" "<name>").
*/}}
{{- define "kompass.secretEnv" -}}
{{- $k := .root.Values.secrets.keys -}}
- name: KOMPASS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $k.databaseUrl }}
- name: KOMPASS_DATABASE_SERVERS
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $k.databaseServers }}
      optional: true
- name: KOMPASS_ANALYTICS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $k.analyticsDatabaseUrl }}
      optional: true
- name: KOMPASS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $k.redisUrl }}
- name: KOMPASS_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $k.jwtSecret }}
      optional: true
{{- end }}

{{/*
Deployment of one component. Call with (dict "root" $ "component" "tenancy").
*/}}
{{- define "kompass.deployment" -}}
{{- $root := .root }}
{{- $svc := index $root.Values.services .component }}
{{- if $svc.enabled }}
{{- $createSecret := include "kompass.createSecret" $root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "kompass.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kompass.componentLabels" . | nindent 4 }}
spec:
  replicas: {{ $svc.replicas }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "kompass.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kompass.selectorLabels" . | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "kompass.configData" $root | sha256sum }}
        {{- if $createSecret }}
        checksum/secret: {{ include "kompass.secretData" $root | sha256sum }}
        {{- end }}
        {{- with (merge (dict) $svc.podAnnotations $root.Values.podAnnotations) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "kompass.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "kompass.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["serve", {{ .component | quote }}]
          ports:
            - name: grpc
              containerPort: {{ $svc.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "kompass.fullname" $root }}-config
          env:
            {{- include "kompass.secretEnv" (dict "root" $root "secretName" (include "kompass.secretName" $root)) | nindent 12 }}
          readinessProbe:
            grpc:
              port: {{ $svc.port }}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          livenessProbe:
            grpc:
              port: {{ $svc.port }}
              # Readiness follows the catalog and Redis; liveness only that
              # the server answers, so an outage does not restart every pod.
              service: kompass.liveness
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
      {{- with (default $root.Values.nodeSelector $svc.nodeSelector) }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (default $root.Values.tolerations $svc.tolerations) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (default $root.Values.affinity $svc.affinity) }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $ctx := . }}
      {{- $tsc := list }}
      {{- range (default $root.Values.topologySpreadConstraints $svc.topologySpreadConstraints) }}
      {{- $c := deepCopy . }}
      {{- if not (hasKey $c "labelSelector") }}
      {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "kompass.selectorLabels" $ctx | fromYaml)) }}
      {{- end }}
      {{- $tsc = append $tsc $c }}
      {{- end }}
      {{- with $tsc }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
Service of one component. Call with (dict "root" $ "component" "tenancy").
*/}}
{{- define "kompass.service" -}}
{{- $root := .root }}
{{- $svc := index $root.Values.services .component }}
{{- if $svc.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "kompass.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "kompass.componentLabels" . | nindent 4 }}
  {{- with $root.Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $root.Values.service.type }}
  selector:
    {{- include "kompass.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $svc.port }}
      targetPort: grpc
      protocol: TCP
      {{- with $root.Values.service.appProtocol }}
      appProtocol: {{ . }}
      {{- end }}
{{- end }}
{{- end }}
