{{/*
Labels of every object: what kustomize's base gives them (name, component, part-of) and what Helm
adds to find its release's objects. Selectors and pod templates get only the first three: selectors
are immutable, and a version label there would change them.
*/}}
{{- define "fleetiq-agones.selectorLabels" -}}
app.kubernetes.io/name: fleetiq-agones
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{- define "fleetiq-agones.templateLabels" -}}
{{ include "fleetiq-agones.selectorLabels" . }}
app.kubernetes.io/part-of: fleetiq-agones
{{- end -}}

{{/* (dict "component" "pubsub" "root" $) */}}
{{- define "fleetiq-agones.labels" -}}
{{ include "fleetiq-agones.templateLabels" .component }}
{{ include "fleetiq-agones.releaseLabels" .root }}
{{- end -}}

{{/* What Helm adds; test/charts/ allows exactly these beyond kustomize's labels. */}}
{{- define "fleetiq-agones.releaseLabels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "fleetiq-agones.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
AWS_REGION. Where the components get AWS credentials (irsa, podIdentity) the region must be given:
the development default would send every FleetIQ call to a region the groups may not be in.
*/}}
{{- define "fleetiq-agones.region" -}}
{{- if eq .Values.aws.credentials "none" -}}
{{ .Values.aws.region | default "us-west-2" }}
{{- else -}}
{{ required (printf "aws.region is required with aws.credentials=%s: the region of your game server groups" .Values.aws.credentials) .Values.aws.region }}
{{- end -}}
{{- end -}}

{{/*
The IAM role ARN of a component under IRSA, refused while it still names the documentation's
placeholder account.
*/}}
{{- define "fleetiq-agones.roleArn" -}}
{{- $root := .root -}}
{{- $arn := index $root.Values.aws.roleArns .component -}}
{{- if not $arn -}}
{{- fail (printf "aws.roleArns.%s is required with aws.credentials=irsa: the ARN of the IAM role of %s (docs/install.md)" .component .component) -}}
{{- end -}}
{{- if contains "111122223333" $arn -}}
{{- fail (printf "aws.roleArns.%s still names the placeholder account 111122223333: put your AWS account id (and role name) in it" .component) -}}
{{- end -}}
{{ $arn }}
{{- end -}}

{{/* The settings every component reads from its environment. */}}
{{- define "fleetiq-agones.settingsData" -}}
AWS_REGION: {{ include "fleetiq-agones.region" . | quote }}
GAME_SERVER_GROUP: {{ .Values.gameServerGroup | quote }}
REDIS_URL: {{ .Values.redis.url | quote }}
{{- end -}}

{{/*
Named after its content, as kustomize's configMapGenerator names it: a change of a setting is a new
ConfigMap, and the pods that read it roll.
*/}}
{{- define "fleetiq-agones.settingsName" -}}
fleetiq-agones-settings-{{ include "fleetiq-agones.settingsData" . | sha256sum | trunc 10 }}
{{- end -}}

{{/* (dict "key" "AWS_REGION" "root" $) */}}
{{- define "fleetiq-agones.settingRef" -}}
- name: {{ .key }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "fleetiq-agones.settingsName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* REDIS_URL and the signing key of pubsub and the node agents. */}}
{{- define "fleetiq-agones.redisAndSigningEnv" -}}
{{- if .Values.redis.existingSecret.name }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret.name }}
      key: {{ .Values.redis.existingSecret.key }}
{{- else }}
{{ include "fleetiq-agones.settingRef" (dict "key" "REDIS_URL" "root" .) }}
{{- end }}
{{- if .Values.statusSigning.existingSecret.name }}
- name: STATUS_SIGNING_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.statusSigning.existingSecret.name }}
      key: {{ .Values.statusSigning.existingSecret.key }}
{{- end }}
{{- end -}}

{{/* LOG_LEVEL, then a component's env map (sorted by name) and its extraEnv. (dict "c" .Values.x "root" $) */}}
{{- define "fleetiq-agones.extraEnv" -}}
{{- if .root.Values.logLevel }}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
{{- end }}
{{- range $name, $value := .c.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .c.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Never on game server nodes: they are Spot instances that FleetIQ drains. */}}
{{- define "fleetiq-agones.notOnGameServerNodes" -}}
requiredDuringSchedulingIgnoredDuringExecution:
  nodeSelectorTerms:
    - matchExpressions:
        - key: {{ .Values.gameServerNodes.labelKey }}
          operator: NotIn
          values: [{{ .Values.gameServerNodes.labelValue | quote }}]
{{- end -}}

{{- define "fleetiq-agones.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fleetiq-agones.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The ServiceAccount of a component: (dict "component" "pubsub" "root" $) */}}
{{- define "fleetiq-agones.serviceAccount" -}}
{{- $root := .root -}}
{{- $annotations := (index $root.Values.serviceAccounts .component).annotations | default dict | deepCopy -}}
{{- if and (eq $root.Values.aws.credentials "irsa") (has .component (list "pubsub" "reconciler")) -}}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" (include "fleetiq-agones.roleArn" .) -}}
{{- end -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: fleetiq-agones-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "fleetiq-agones.labels" . | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
