{{/*
<package>-<env>-<cell>: the cell is in every name, so cells never collide.
*/}}
{{- define "dk-app.instance" -}}
{{- printf "%s-%s-%s" (required "package is required" .Values.package) (required "env is required" .Values.env) (required "cell is required" .Values.cell) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The artifact, pinned by digest: the tag is for people, the digest is what runs.
*/}}
{{- define "dk-app.artifact" -}}
{{- printf "%s/%s/%s@%s" (required "registry is required" .Values.registry) .Values.namespace .Values.package (required "digest is required" .Values.digest) -}}
{{- end -}}

{{/*
The cron schedule, empty for none. A schedule written as a bare string is refused with the form
to write, rather than failing deep inside a template.
*/}}
{{- define "dk-app.cron" -}}
{{- if not (kindIs "map" .Values.schedule) }}
{{- fail (printf "schedule is %q: write it as a map, schedule: {cron: \"0 2 * * *\", timezone: Etc/UTC}" (toString .Values.schedule)) }}
{{- end }}
{{- .Values.schedule.cron | default "" -}}
{{- end -}}

{{/*
ttlSecondsAfterFinished when job.ttlSecondsAfterFinished is set (0 included), else nothing.
*/}}
{{- define "dk-app.ttl" -}}
{{- if not (kindIs "invalid" .Values.job.ttlSecondsAfterFinished) -}}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
{{- end -}}
{{- end -}}

{{/*
Selector labels: stable across promotions (a Deployment's selector is immutable).
*/}}
{{- define "dk-app.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.package }}
app.kubernetes.io/instance: {{ include "dk-app.instance" . }}
{{- end -}}

{{- define "dk-app.labels" -}}
{{ include "dk-app.selectorLabels" . }}
app.kubernetes.io/version: {{ required "appVersion is required" .Values.appVersion | quote }}
app.kubernetes.io/component: {{ .Values.mode | quote }}
app.kubernetes.io/part-of: datakit
app.kubernetes.io/managed-by: dk
datakit.infoblox.dev/package: {{ .Values.package | quote }}
datakit.infoblox.dev/version: {{ .Values.appVersion | quote }}
datakit.infoblox.dev/env: {{ .Values.env | quote }}
datakit.infoblox.dev/cell: {{ .Values.cell | quote }}
{{- end -}}

{{/*
The pod: init containers pull the package by digest into an emptyDir and copy the dk binary
beside it; the main container runs `dk run` on it, the same code path as on a laptop.
*/}}
{{- define "dk-app.podSpec" -}}
{{- $pullSecret := "" -}}
{{- with .Values.imagePullSecrets }}{{ $pullSecret = (first .).name }}{{ end -}}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
initContainers:
  {{- with .Values.verify }}
  {{- if .keys }}
  # Before anything is pulled: the artifact's signature (and provenance) against the keys the
  # environment's policy.yaml requires, which dk promote copied into the values. An unsigned or
  # tampered artifact stops the pod here.
  - name: verify
    image: {{ $.Values.dk.image }}
    command:
      - /usr/local/bin/dk
      - verify
      - {{ include "dk-app.artifact" $ | quote }}
      {{- range $index, $key := .keys }}
      - --key
      - /etc/dk/keys/key-{{ $index }}.pub
      {{- end }}
      {{- with .builder }}
      - --builder
      - {{ . | quote }}
      {{- end }}
    {{- if $pullSecret }}
    env:
      - name: DOCKER_CONFIG
        value: /etc/dk/docker
    {{- end }}
    volumeMounts:
      - name: verify-keys
        mountPath: /etc/dk/keys
        readOnly: true
      {{- if $pullSecret }}
      - name: registry-credentials
        mountPath: /etc/dk/docker
        readOnly: true
      {{- end }}
  {{- end }}
  {{- end }}
  - name: pull
    image: {{ .Values.dk.image }}
    # Kubernetes may run an init container again over the same emptyDir (a re-created pod
    # sandbox), and dk pull unpacks only into an empty folder: an earlier attempt's is removed.
    command: ["/bin/sh", "-c", "rm -rf /workspace/pkg && exec /usr/local/bin/dk pull \"$1\" --output-dir /workspace/pkg", "dk-pull", {{ include "dk-app.artifact" . | quote }}]
    {{- if $pullSecret }}
    env:
      - name: DOCKER_CONFIG
        value: /etc/dk/docker
    {{- end }}
    volumeMounts:
      - name: workspace
        mountPath: /workspace
      {{- if $pullSecret }}
      - name: registry-credentials
        mountPath: /etc/dk/docker
        readOnly: true
      {{- end }}
  - name: dk-binary
    image: {{ .Values.dk.image }}
    command: ["cp", "/usr/local/bin/dk", "/workspace/dk"]
    volumeMounts:
      - name: workspace
        mountPath: /workspace
containers:
  - name: run
    image: {{ required "image is required" .Values.image }}
    command: ["/workspace/dk", "run", "/workspace/pkg"]
    env:
      - name: DK_HOME
        value: /workspace/.dk
      {{- with .Values.lineage.url }}
      - name: OPENLINEAGE_URL
        value: {{ . | quote }}
      {{- end }}
      {{- with .Values.lineage.namespace }}
      - name: OPENLINEAGE_NAMESPACE
        value: {{ . | quote }}
      {{- end }}
      {{- with .Values.stores }}
      - name: DK_STORE_OVERRIDES
        value: {{ toJson . | quote }}
      {{- end }}
      {{- if and (eq .Values.mode "batch") (include "dk-app.cron" .) }}
      - name: DK_SCHEDULE
        value: {{ .Values.schedule.cron | quote }}
      - name: DK_TIMEZONE
        value: {{ .Values.schedule.timezone | quote }}
      {{- end }}
      {{- range .Values.secrets }}
      - name: {{ required "secrets[].name is required" .name }}
        valueFrom:
          secretKeyRef:
            name: {{ .secret | default (printf "dk-%s" $.Values.package) }}
            key: {{ .key | default .name }}
      {{- end }}
    {{- with .Values.resources }}
    resources:
      {{- if or (hasKey . "requests") (hasKey . "limits") (hasKey . "claims") }}
      {{- toYaml . | nindent 6 }}
      {{- else }}
      {{- /* A Transform's spec.resources {cpu, memory}, as dk promote writes it: requested, and
      memory also as the limit (memory cannot be taken back from a running pod; CPU can). */}}
      requests:
        {{- toYaml . | nindent 8 }}
      {{- with .memory }}
      limits:
        memory: {{ . | quote }}
      {{- end }}
      {{- end }}
    {{- end }}
    volumeMounts:
      - name: workspace
        mountPath: /workspace
volumes:
  - name: workspace
    emptyDir: {}
  {{- if (.Values.verify | default dict).keys }}
  - name: verify-keys
    configMap:
      name: {{ include "dk-app.instance" . }}-keys
  {{- end }}
  {{- if $pullSecret }}
  - name: registry-credentials
    secret:
      secretName: {{ $pullSecret }}
      items:
        - key: .dockerconfigjson
          path: config.json
  {{- end }}
{{- end -}}
