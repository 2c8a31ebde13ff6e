{{- define "gpu-operator.labels" -}}
app.kubernetes.io/name: gpu-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gpu-operator.operand" -}}
enabled: {{ .values.enabled }}
repository: {{ .values.repository }}
image: {{ .values.image }}
version: {{ .values.version | quote }}
{{- end -}}
