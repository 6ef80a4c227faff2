{{- /* Engine-specific pieces of the database StatefulSet. */ -}}
{{- define "database.uid" -}}
{{- if eq .Values.engine "mongodb" }}{{ .Values.mongodb.uid }}{{ else }}{{ .Values.ferretdb.uid }}{{ end -}}
{{- end }}

{{- define "database.image" -}}
{{- $i := ternary .Values.mongodb.image .Values.ferretdb.image (eq .Values.engine "mongodb") -}}
{{ printf "%s:%s" $i.repository $i.tag }}
{{- end }}

{{- define "database.credentialsEnv" -}}
- name: {{ .prefix }}USERNAME
  valueFrom: {secretKeyRef: {name: {{ .root.Values.credentialsSecret }}, key: username}}
- name: {{ .prefix }}PASSWORD
  valueFrom: {secretKeyRef: {name: {{ .root.Values.credentialsSecret }}, key: password}}
{{- end }}
