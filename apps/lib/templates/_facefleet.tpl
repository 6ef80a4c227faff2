{{- /*
Helpers shared by every facefleet chart, from the library chart facefleet-lib: each chart (and
../../base) lists it under dependencies with a file:// repository, and Fleet's `helm dependency
update` packs it into the chart's charts/ when it builds the bundle.
*/ -}}

{{- /* The chart's name, which is also its main objects' name (facefleet-<component>). */ -}}
{{- define "facefleet.name" -}}
{{- .Chart.Name -}}
{{- end }}

{{- define "facefleet.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: facefleet
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{- define "facefleet.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: facefleet
{{- end }}

{{- /* Pod-level part of the "restricted" Pod Security Standard; .uid is the image's user. */ -}}
{{- define "facefleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "facefleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- /*
Where pods may run. scheduling.mode "edgeNodes": only on nodes with the edge label, tolerating the
edge taint; "notEdgeNodes": never on a node with the edge label (the taint keeps them off too).
.extraAffinity (a dict) is merged into the affinity block, e.g. a podAffinity.
*/ -}}
{{- define "facefleet.scheduling" -}}
{{- $s := .scheduling -}}
{{- $op := ternary "In" "NotIn" (eq $s.mode "edgeNodes") -}}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: {{ $s.nodeLabel.key | quote }}
              operator: {{ $op }}
              values: [{{ $s.nodeLabel.value | quote }}]
  {{- with .extraAffinity }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if eq $s.mode "edgeNodes" }}
tolerations:
  - key: {{ $s.nodeTaint.key | quote }}
    operator: Equal
    value: {{ $s.nodeTaint.value | quote }}
    effect: {{ $s.nodeTaint.effect }}
{{- end }}
{{- end }}

{{- /* Spread replicas across nodes (cloud); soft, so a one-node cluster still schedules. */ -}}
{{- define "facefleet.spread" -}}
{{- if .spread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "facefleet.selector" . | nindent 8 }}
{{- end }}
{{- end }}

{{- /*
The public DNS name of this cluster: Fleet replaces the value "global.fleet.clusterLabels.<label>"
with that cluster label's value; rendered outside Fleet (or without the label) it falls back to
.fallback.
*/ -}}
{{- define "facefleet.publicHost" -}}
{{- $h := .host | default "" -}}
{{- if or (eq $h "") (hasPrefix "global.fleet." $h) -}}
{{- .fallback -}}
{{- else -}}
{{- $h -}}
{{- end -}}
{{- end }}
