{{- /*
Helpers shared by every facefleet chart, from the library chart facefleet-lib: each chart (and
../../base) lists it under dependencies with a file:// repository, and Fleet's `helm dependency
update` packs it into the chart's charts/ when it builds the bundle.
*/ -}}

{{- /* The chart's name, which is also its main objects' name (facefleet-<component>). */ -}}
{{- define "facefleet.name" -}}
{{- .Chart.Name -}}
{{- end }}

{{- /* Helm's recommended labels; selectors use facefleet.selector, which never changes. */ -}}
{{- define "facefleet.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
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
Where pods may run, from the chart's `group` value and the groups in this library's values.yaml:
a group with a nodeLabel (edge) runs only on nodes with that label and tolerates its nodeTaint; a
group without one (cloud) never runs on a node labelled for another group (whose taint keeps it
off too). .root is the chart's context; .extraAffinity (a dict) is merged into the affinity block,
e.g. a podAffinity.
*/ -}}
{{- define "facefleet.scheduling" -}}
{{- $groups := (index .root.Values "facefleet-lib").groups -}}
{{- $group := .root.Values.group -}}
{{- if not (hasKey $groups $group) -}}
{{- fail (printf "group %q is none of the cluster groups in apps/lib/values.yaml (%s)" $group (keys $groups | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $own := index $groups $group -}}
{{- $expressions := list -}}
{{- if $own.nodeLabel -}}
{{- $expressions = list (dict "key" $own.nodeLabel.key "operator" "In" "values" (list $own.nodeLabel.value)) -}}
{{- else -}}
{{- range $name := keys $groups | sortAlpha -}}
{{- with (index $groups $name).nodeLabel -}}
{{- $expressions = append $expressions (dict "key" .key "operator" "NotIn" "values" (list .value)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $expressions -}}
{{- fail (printf "group %q: no cluster group in apps/lib/values.yaml has a nodeLabel to place by" $group) -}}
{{- end -}}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            {{- toYaml $expressions | nindent 12 }}
  {{- with .extraAffinity }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $own.nodeTaint }}
tolerations:
  - key: {{ .key | quote }}
    operator: Equal
    value: {{ .value | quote }}
    effect: {{ .effect }}
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

{{- /*
NetworkPolicy peers for the ingress controller's pods (a list for `from:`), from a chart's
controller values {namespace, podLabels, ipBlocks}: the ui's and, on the home of users, the
recognizer's (its sync routes) admit the same controller.
*/ -}}
{{- define "facefleet.ingressControllerPeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .namespace }}
  podSelector:
    matchLabels:
      {{- toYaml .podLabels | nindent 6 }}
{{- range .ipBlocks }}
- ipBlock: {cidr: {{ . }}}
{{- end }}
{{- end }}
