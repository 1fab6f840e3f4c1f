{{/* The Vault Agent sidecar: logs in with a projected ServiceAccount token
(audience "vault", mounted only here), writes a renewed Vault token to the
vault-token emptyDir that daprd reads (dapr.io/volume-mounts). */}}
{{- define "sa.vaultAgentContainer" -}}
- name: vault-agent
  image: {{ .Values.secretStore.vault.agentImage | quote }}
  imagePullPolicy: IfNotPresent
  args: ["agent", "-config=/vault/config/agent.json"]
  env:
    - {name: VAULT_ADDR, value: {{ .Values.secretStore.vault.address | quote }}}
    - {name: SKIP_SETCAP, value: "true"}
    - {name: HOME, value: /tmp}
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: [ALL]
  resources:
    {{- toYaml .Values.secretStore.vault.agentResources | nindent 4 }}
  volumeMounts:
    - {name: vault-config, mountPath: /vault/config, readOnly: true}
    - {name: vault-sa-token, mountPath: /var/run/secrets/vault, readOnly: true}
    - {name: vault-token, mountPath: /vault/token}
    - {name: tmp, mountPath: /tmp}
    {{- if .Values.secretStore.vault.caConfigMap }}
    - {name: vault-ca, mountPath: /vault/ca, readOnly: true}
    {{- end }}
{{- end -}}

{{- define "sa.vaultVolumes" -}}
- name: vault-config
  configMap:
    name: {{ include "sa.fullname" . }}-vault-agent
- name: vault-token
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
- name: vault-sa-token
  projected:
    sources:
      - serviceAccountToken:
          audience: vault
          expirationSeconds: 3600
          path: token
{{- if .Values.secretStore.vault.caConfigMap }}
- name: vault-ca
  configMap:
    name: {{ .Values.secretStore.vault.caConfigMap }}
{{- end }}
{{- end -}}
