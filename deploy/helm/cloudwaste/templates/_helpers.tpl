{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "cloudwaste.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Component suffixes ("-enricher" is the longest, 9 characters) are
appended to it, so it is truncated to 63 - 9 = 54 characters.
If the release name contains the chart name it is used as is.
*/}}
{{- define "cloudwaste.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cloudwaste.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The four long-running services, in dependency order. Single source for the Deployment and
Service loops.
*/}}
{{- define "cloudwaste.components" -}}
scanner enricher exporter predictor
{{- end }}

{{/*
Selector labels. Takes a dict: "context" (the root context) and optionally "component".
Selectors are immutable, so nothing version-dependent goes here.
  {{ include "cloudwaste.selectorLabels" (dict "context" $ "component" "scanner") }}
*/}}
{{- define "cloudwaste.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudwaste.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Common labels: the selector labels plus chart, version and manager. Same dict argument as
cloudwaste.selectorLabels.
*/}}
{{- define "cloudwaste.labels" -}}
helm.sh/chart: {{ include "cloudwaste.chart" .context }}
{{ include "cloudwaste.selectorLabels" . }}
{{- with .context.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/part-of: cloudwaste
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Name of a component's Deployment and Service, e.g. "<fullname>-enricher".
  {{ include "cloudwaste.componentName" (dict "context" $ "component" "enricher") }}
*/}}
{{- define "cloudwaste.componentName" -}}
{{- printf "%s-%s" (include "cloudwaste.fullname" .context) .component }}
{{- end }}

{{/*
In-cluster gRPC address of a component's Service, e.g. "<fullname>-exporter:50051".
*/}}
{{- define "cloudwaste.grpcAddress" -}}
{{- printf "%s:%d" (include "cloudwaste.componentName" .) 50051 }}
{{- end }}

{{/*
The image of one service, "<image.repository>-<service>:<tag>": the Dockerfile built with
`--build-arg SERVICE=<service>`, which installs the base dependencies plus that service's extra.
Every image holds the `cloudwaste` CLI and all the code; only the third-party packages differ.
Takes a dict: "context" (the root context) and "service".
  {{ include "cloudwaste.image" (dict "context" $ "service" "exporter") }}
Which workload runs which image (values.yaml, image):
  Deployment <service>       -> <service>
  migration hook Job         -> enricher (cloudwaste.core only: the base dependencies, the smallest image)
  export and purge CronJobs  -> exporter (gRPC clients of the exporter)
  scheduled scan CronJobs    -> scanner  (a gRPC client of the scanner)
*/}}
{{- define "cloudwaste.image" -}}
{{- $values := .context.Values.image }}
{{- printf "%s-%s:%s" $values.repository .service (default .context.Chart.AppVersion $values.tag) }}
{{- end }}

{{- define "cloudwaste.databaseSecretName" -}}
{{- default (printf "%s-database" (include "cloudwaste.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "cloudwaste.mlHashKeySecretName" -}}
{{- default (printf "%s-ml-hash-key" (include "cloudwaste.fullname" .)) .Values.mlHashKey.existingSecret }}
{{- end }}

{{/*
Env shared by every CloudWaste container that talks to PostgreSQL. Each connects as its own
database user (the key of `database.secretKeys` named after its component: scanner, enricher,
exporter, predictor; the migration hook takes `url`, the schema owner's).
Call with (dict "context" $ "component" "<name>").
*/}}
{{- define "cloudwaste.databaseEnv" -}}
{{- $values := .context.Values }}
- name: CLOUDWASTE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudwaste.databaseSecretName" .context }}
      key: {{ index $values.database.secretKeys .component }}
- name: CLOUDWASTE_LOG_LEVEL
  value: {{ $values.logLevel | quote }}
{{- end }}

{{/*
CLOUDWASTE_HASH_KEY / CLOUDWASTE_HASH_KEY_ID (scanner and enricher).
*/}}
{{- define "cloudwaste.mlHashKeyEnv" -}}
- name: CLOUDWASTE_HASH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudwaste.mlHashKeySecretName" . }}
      key: {{ .Values.mlHashKey.secretKeys.key }}
- name: CLOUDWASTE_HASH_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudwaste.mlHashKeySecretName" . }}
      key: {{ .Values.mlHashKey.secretKeys.keyId }}
{{- end }}

{{/*
Pod-level security context: non-root with a fixed UID/GID (fsGroup makes the claim of a file://
storage root writable), RuntimeDefault seccomp.
*/}}
{{- define "cloudwaste.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level security context: read-only root filesystem (writable /tmp is an emptyDir),
no privilege escalation, no capabilities.
*/}}
{{- define "cloudwaste.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The storage identity (the exporter's; the predictor's and the training CronJob's too unless
predictor.serviceAccount gives them their own): "<fullname>" (or serviceAccount.name) when the chart creates it, else
serviceAccount.name, "" meaning the namespace's default (no serviceAccountName rendered).
*/}}
{{- define "cloudwaste.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cloudwaste.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The predictor's and the training CronJob's ServiceAccount: its own (predictor.serviceAccount) when
created or named, else the storage identity the exporter uses.
*/}}
{{- define "cloudwaste.predictorServiceAccountName" -}}
{{- $sa := .Values.predictor.serviceAccount -}}
{{- if or $sa.create $sa.name }}
{{- include "cloudwaste.componentServiceAccountName" (dict "context" . "component" "predictor") }}
{{- else }}
{{- include "cloudwaste.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/*
The storage root's scheme ("s3" or "file"); values.schema.json admits only these two.
*/}}
{{- define "cloudwaste.storageScheme" -}}
{{- if hasPrefix "s3://" .Values.storage.root }}s3{{ else }}file{{ end }}
{{- end }}

{{/*
The local folder of a file:// storage root, where its volume is mounted ("/exports" for
file:///exports). Fails on a folder the chart already mounts an emptyDir at.
*/}}
{{- define "cloudwaste.storagePath" -}}
{{- $path := trimPrefix "file://" .Values.storage.root }}
{{- if has $path (list "/tmp" "/staging") }}
{{- fail (printf "storage.root: %s is a folder the chart already mounts an emptyDir at; use another, e.g. file:///exports" .Values.storage.root) }}
{{- end }}
{{- $path }}
{{- end }}

{{/*
Fails the render on storage settings that would leave the exports where their readers never see
them. Included once per render (by the exporter's Deployment).
*/}}
{{- define "cloudwaste.checkStorage" -}}
{{- $claim := .Values.exporter.persistence.existingClaim }}
{{- if eq (include "cloudwaste.storageScheme" .) "s3" }}
{{- if $claim }}
{{- fail (printf "exporter.persistence.existingClaim (%q) is only used with a file:// storage.root, and storage.root is %s; remove the claim, or set storage.root to file:///exports to write on it" $claim .Values.storage.root) }}
{{- end }}
{{- else if and .Values.training.enabled (not $claim) }}
{{- fail (printf "storage.root is %s without exporter.persistence.existingClaim: the exports would live in the exporter pod's emptyDir, which the training CronJob never sees. Use an s3:// root, set exporter.persistence.existingClaim (ReadWriteMany), or set training.enabled=false" .Values.storage.root) }}
{{- end }}
{{- end }}

{{/*
Storage env of a container that reaches the storage. Takes a dict: "context" (the root
context) and "rootVariable" (CLOUDWASTE_EXPORT_ROOT for the exporter, CLOUDWASTE_DATASET_ROOT
for the predictor and `cloudwaste train`). The root is the same storage.root for all of them.
*/}}
{{- define "cloudwaste.storageEnv" -}}
{{- $storage := .context.Values.storage -}}
- name: {{ .rootVariable }}
  value: {{ $storage.root | quote }}
{{- with $storage.s3.endpointUrl }}
- name: CLOUDWASTE_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $storage.s3.region }}
- name: CLOUDWASTE_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $storage.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $storage.s3.secretKeys.accessKeyId }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $storage.s3.secretKeys.secretAccessKey }}
{{- end }}
{{- end }}

{{/*
The volume mount (into "readOnly" pods: the predictor and the training CronJob) and the volume
of a file:// storage root backed by exporter.persistence.existingClaim. Nothing for s3:// roots
or without a claim. Takes a dict: "context" and "readOnly".
*/}}
{{- define "cloudwaste.sharedExportsMount" -}}
{{- if and (eq (include "cloudwaste.storageScheme" .context) "file") .context.Values.exporter.persistence.existingClaim -}}
- name: exports
  mountPath: {{ include "cloudwaste.storagePath" .context }}
  readOnly: {{ .readOnly }}
{{- end }}
{{- end }}

{{- define "cloudwaste.sharedExportsVolume" -}}
{{- if and (eq (include "cloudwaste.storageScheme" .) "file") .Values.exporter.persistence.existingClaim -}}
- name: exports
  persistentVolumeClaim:
    claimName: {{ .Values.exporter.persistence.existingClaim }}
{{- end }}
{{- end }}

{{/*
Where a pod may run: the component's own `scheduling` (its nodeSelector, tolerations, affinity,
topologySpreadConstraints, each on its own) or else the chart-wide `scheduling`. Takes a dict:
"context" (the root context) and "own" (the component's scheduling values, or nil).
*/}}
{{- define "cloudwaste.scheduling" -}}
{{- $global := .context.Values.scheduling -}}
{{- $own := .own | default dict -}}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" }}
{{- with (index $own $key) | default (index $global $key) }}
{{ $key }}:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The own ServiceAccount of the scanner, the enricher or the predictor (<component>.serviceAccount):
"<fullname>-<component>" or its `name` when created, else its `name` ("" : the namespace's default).
Takes a dict: "context" and "component".
*/}}
{{- define "cloudwaste.componentServiceAccountName" -}}
{{- $sa := (index .context.Values .component).serviceAccount -}}
{{- if $sa.create }}
{{- default (include "cloudwaste.componentName" .) $sa.name }}
{{- else }}
{{- $sa.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of a CronJob that only calls the services ("export", "purge" or "scan"): its
projected token is how the services know it (auth.mode jwt). One per job, so that each may make
only its own calls. Takes a dict: "context" and "job".
*/}}
{{- define "cloudwaste.callerServiceAccountName" -}}
{{- $suffix := printf "-caller-%s" .job -}}
{{- /* the full name is cut, not the suffix: the three names stay apart at any length */ -}}
{{- printf "%s%s" (include "cloudwaste.fullname" .context | trunc (int (sub 63 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
The chart's own callers, as the cluster's issuer names them, and the only calls each may make
(least privilege): the export CronJob exports, the purge CronJob purges, the scan CronJobs scan;
the scanner hands its runs to the enricher and has their findings scored. They are the only
subjects, with auth.kubernetes.operatorSubjects, whose cluster tokens the services accept.
*/}}
{{- define "cloudwaste.callerMethods" -}}
{{- $ns := .Release.Namespace -}}
{{- $scanner := include "cloudwaste.componentServiceAccountName" (dict "context" . "component" "scanner") | default "default" -}}
{{- $exporter := "cloudwaste.exporter.v1.ExporterService/" -}}
{{- $scans := "cloudwaste.scanner.v1.ScannerService/" -}}
{{- $jobs := dict "export" (list (print $exporter "ExportDataset")) "purge" (list (print $exporter "PurgeExpiredData") (print $exporter "GetPurgeRun")) "scan" (list (print $scans "StartScan") (print $scans "GetScanRun")) -}}
{{- $methods := dict (printf "system:serviceaccount:%s:%s" $ns $scanner) (list "cloudwaste.enricher.v1.EnricherService/EnrichScanRun" "cloudwaste.predictor.v1.PredictorService/PredictWasteBatch") -}}
{{- range $job, $calls := $jobs }}
{{- $_ := set $methods (printf "system:serviceaccount:%s:%s" $ns (include "cloudwaste.callerServiceAccountName" (dict "context" $ "job" $job))) $calls }}
{{- end }}
{{- toJson $methods }}
{{- end }}

{{/*
CLOUDWASTE_AUTH_* of the four services and the training CronJob (cloudwaste.core.auth).
*/}}
{{- define "cloudwaste.authEnv" -}}
- name: CLOUDWASTE_AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
{{- if eq .Values.auth.mode "jwt" }}
{{- $issuers := list }}
{{- range .Values.auth.issuers }}
{{- $issuers = append $issuers (dict "issuer" .issuer "jwks_uri" .jwksUri "operator_subjects" (.operatorSubjects | default list)) }}
{{- end }}
{{- if not .Values.auth.kubernetes.enabled }}
{{- fail "auth.kubernetes.enabled is false: the chart's own callers (the scanner, the export, purge and scan CronJobs) authenticate with ServiceAccount tokens of the cluster's issuer (auth.mode none turns authentication off, for a demo only)" }}
{{- end }}
{{- with .Values.auth.kubernetes }}
{{- $issuers = append $issuers (dict "issuer" .issuer "jwks_uri" .jwksUri "ca_file" "/var/run/secrets/cloudwaste/kube-api/ca.crt" "token_file" "/var/run/secrets/cloudwaste/kube-api/token" "operator_subjects" (.operatorSubjects | default list) "subject_methods" (include "cloudwaste.callerMethods" $ | fromJson) "only_operator_subjects" true) }}
{{- end }}
- name: CLOUDWASTE_AUTH_ISSUERS
  value: {{ toJson $issuers | quote }}
- name: CLOUDWASTE_AUTH_AUDIENCE
  value: {{ .Values.auth.audience | quote }}
- name: CLOUDWASTE_AUTH_TENANT_CLAIM
  value: {{ .Values.auth.tenantClaim | quote }}
- name: CLOUDWASTE_AUTH_ROLES_CLAIM
  value: {{ .Values.auth.rolesClaim | quote }}
- name: CLOUDWASTE_AUTH_OPERATOR_ROLE
  value: {{ .Values.auth.operatorRole | quote }}
{{- end }}
{{- end }}

{{/*
A caller's own token: env, volume mount and volume (a projected ServiceAccount token for the
services' audience, rotated by the kubelet). Nothing with auth.mode none.
*/}}
{{- define "cloudwaste.callerTokenEnv" -}}
{{- if eq .Values.auth.mode "jwt" }}
- name: CLOUDWASTE_AUTH_TOKEN_FILE
  value: /var/run/secrets/cloudwaste/token/token
{{- end }}
{{- end }}
{{- define "cloudwaste.callerTokenMount" -}}
{{- if eq .Values.auth.mode "jwt" }}
- name: caller-token
  mountPath: /var/run/secrets/cloudwaste/token
  readOnly: true
{{- end }}
{{- end }}
{{- define "cloudwaste.callerTokenVolume" -}}
{{- if eq .Values.auth.mode "jwt" }}
- name: caller-token
  projected:
    sources:
      - serviceAccountToken:
          audience: {{ .Values.auth.audience | quote }}
          expirationSeconds: 3600
          path: token
{{- end }}
{{- end }}

{{/*
What a service reads the cluster issuer's keys with (auth.kubernetes): a token for the API
server and the cluster's CA.
*/}}
{{- define "cloudwaste.kubeApiMount" -}}
{{- if and (eq .Values.auth.mode "jwt") .Values.auth.kubernetes.enabled }}
- name: kube-api
  mountPath: /var/run/secrets/cloudwaste/kube-api
  readOnly: true
{{- end }}
{{- end }}
{{- define "cloudwaste.kubeApiVolume" -}}
{{- if and (eq .Values.auth.mode "jwt") .Values.auth.kubernetes.enabled }}
- name: kube-api
  projected:
    sources:
      - serviceAccountToken:
          expirationSeconds: 3600
          path: token
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
{{- end }}
{{- end }}

{{/*
Mutual TLS (tls.secretName): CLOUDWASTE_TLS_* with the Secret's files, its mount and volume.
Every service serves with it and every caller (the scanner, the CronJobs) shows it.
*/}}
{{- define "cloudwaste.tlsEnv" -}}
{{- if .Values.tls.secretName }}
- name: CLOUDWASTE_TLS_CERT_FILE
  value: /var/run/secrets/cloudwaste/tls/tls.crt
- name: CLOUDWASTE_TLS_KEY_FILE
  value: /var/run/secrets/cloudwaste/tls/tls.key
- name: CLOUDWASTE_TLS_CA_FILE
  value: /var/run/secrets/cloudwaste/tls/ca.crt
{{- end }}
{{- end }}
{{- define "cloudwaste.tlsMount" -}}
{{- if .Values.tls.secretName }}
- name: tls
  mountPath: /var/run/secrets/cloudwaste/tls
  readOnly: true
{{- end }}
{{- end }}
{{- define "cloudwaste.tlsVolume" -}}
{{- if .Values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{/*
A probe of the service: the kubelet's gRPC probe, or with mutual TLS (which that probe cannot
speak) `cloudwaste health` run in the container. Takes a dict: "context", "component", "service"
("" readiness or "liveness").
*/}}
{{- define "cloudwaste.probe" -}}
{{- if .context.Values.tls.secretName }}
exec:
  command:
    - cloudwaste
    - health
    - --address
    - 127.0.0.1:50051
    - --server-name
    - {{ include "cloudwaste.componentName" . }}
    {{- with .service }}
    - --service
    - {{ . }}
    {{- end }}
{{- else }}
grpc:
  port: 50051
  {{- with .service }}
  service: {{ . }}
  {{- end }}
{{- end }}
{{- end }}
