{{- define "chart.engineLabels" -}}
app.kubernetes.io/component: serving-engine
app.kubernetes.io/part-of: vllm-stack
{{- end -}}

{{- define "chart.routerLabels" -}}
app.kubernetes.io/component: router
app.kubernetes.io/part-of: vllm-stack
{{- end -}}
