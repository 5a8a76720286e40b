{{/*
The chart's name, or nameOverride.
*/}}
{{- define "gridshift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else release-chart (the release name
alone when it already contains the chart name). Truncated to 63 characters (DNS label).
*/}}
{{- define "gridshift.fullname" -}}
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

{{/*
chart-version, as the helm.sh/chart label wants it.
*/}}
{{- define "gridshift.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The recommended labels (helm.sh chart best practices) of every object of the release.
*/}}
{{- define "gridshift.labels" -}}
helm.sh/chart: {{ include "gridshift.chart" . }}
{{ include "gridshift.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gridshift
{{- end }}

{{/*
The labels that select the operator Pods (never change them on upgrade: selectors are immutable).
*/}}
{{- define "gridshift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gridshift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "gridshift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gridshift.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding the ledger's database URL, and its key.
*/}}
{{- define "gridshift.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- printf "%s-database" (include "gridshift.fullname" .) }}
{{- end }}
{{- end }}

{{- define "gridshift.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else -}}
url
{{- end }}
{{- end }}

{{/*
The Secret holding the grid operators' webhook tokens.
*/}}
{{- define "gridshift.tokensSecretName" -}}
{{- if .Values.gridOperators.existingSecret }}
{{- .Values.gridOperators.existingSecret }}
{{- else }}
{{- printf "%s-grid-operators" (include "gridshift.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The image reference: repository and tag (appVersion when the tag is empty).
*/}}
{{- define "gridshift.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
