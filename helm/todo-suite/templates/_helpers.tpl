{{/*
What the code fixes about each app, as opposed to what values tune: the workload kind, whether
it reads the Dapr secret store (and so needs the Kubernetes API and a Role to read the app
secret), and which apps may call it through Dapr, with the gRPC methods (the Configuration's
access control and the NetworkPolicies both come from `callers`). deploy/tests checks these
against the services' code.
*/}}
{{- define "todo-suite.apps" -}}
gateway:
  kind: Deployment
  readsSecrets: true
  public: true
  callers: {}
todo-api:
  kind: Deployment
  readsSecrets: true
  callers:
    gateway: [/todo.v1.TaskService/*]
    recurring: [/todo.v1.TaskService/CreateTask]
recurring:
  kind: Deployment
  readsSecrets: false
  callers: {}
notification:
  kind: Deployment
  readsSecrets: true
  callers:
    gateway: [/todo.v1.NotificationService/*]
audit:
  kind: Deployment
  readsSecrets: true
  callers:
    gateway: [/todo.v1.AuditService/*]
sync:
  kind: StatefulSet
  readsSecrets: false
  callers:
    gateway: [/todo.v1.SyncService/*]
{{- end }}

{{/* The labels every object of the chart carries. */}}
{{- define "todo-suite.labels" -}}
app.kubernetes.io/part-of: todo-suite
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select one app's pods: (dict "root" $ "app" "todo-api"). */}}
{{- define "todo-suite.selectorLabels" -}}
app.kubernetes.io/name: {{ .app }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* An app's image: (dict "root" $ "app" "todo-api"). */}}
{{- define "todo-suite.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (.root.Values.image.registry | trimSuffix "/") .app $tag -}}
{{- end }}

{{/* The name of an app's Dapr Configuration: (dict "root" $ "app" "todo-api"). */}}
{{- define "todo-suite.daprConfigName" -}}
{{- printf "%s-%s" .root.Release.Name .app | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The Secrets holding an app's two Dapr tokens (key "token", as the injector reads it). */}}
{{- define "todo-suite.appTokenSecret" -}}
{{- printf "%s-%s-app-api-token" .root.Release.Name .app | trunc 63 | trimSuffix "-" -}}
{{- end }}
{{- define "todo-suite.apiTokenSecret" -}}
{{- printf "%s-%s-dapr-api-token" .root.Release.Name .app | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* todo-api's outbox topic: daprd names it namespace + app id + topic + "outbox". */}}
{{- define "todo-suite.outboxTopic" -}}
{{- printf "%stodo-apitask-eventsoutbox" .Release.Namespace -}}
{{- end }}
