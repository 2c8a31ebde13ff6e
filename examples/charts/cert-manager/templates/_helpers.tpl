{{- define "cert-manager.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cert-manager.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ .name }}
    app.kubernetes.io/component: {{ .component }}
    {{- include "cert-manager.labels" .root | nindent 4 }}
spec:
  replicas: {{ .values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
      app.kubernetes.io/instance: {{ .root.Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .name }}
        app.kubernetes.io/component: {{ .component }}
        {{- include "cert-manager.labels" .root | nindent 8 }}
    spec:
      serviceAccountName: {{ .name }}
      containers:
      - name: {{ .component }}
        image: "{{ .values.image.repository }}:{{ .values.image.tag | default .root.Chart.AppVersion }}"
        imagePullPolicy: {{ .values.image.pullPolicy }}
        args:
        - --v=2
        - --leader-election-namespace=kube-system
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ .name }}
    {{- include "cert-manager.labels" .root | nindent 4 }}
{{- end -}}
