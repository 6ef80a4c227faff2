{{- define "turn.checkRange" -}}
{{- if gt (int .Values.relayPortMin) (int .Values.relayPortMax) -}}
{{- fail "relayPortMin must not be above relayPortMax" -}}
{{- end -}}
{{- if gt (sub (int .Values.relayPortMax) (int .Values.relayPortMin)) 127 -}}
{{- fail "keep the relay range to at most 128 ports (each is a Service port)" -}}
{{- end -}}
{{- end }}
