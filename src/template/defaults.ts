/**
 * Vigil's default notification templates, under the names Alertmanager configurations refer
 * to. The text templates produce the same output as Alertmanager's defaults (subjects, alert
 * lists, links), so notifications read the same after a migration; the e-mail HTML is Vigil's
 * own layout.
 */
export const DEFAULT_NOTIFICATION_TEMPLATES = String.raw`
{{- define "__alertmanager" }}Alertmanager{{ end }}
{{- define "__vigil" }}Vigil{{ end }}

{{- /* Link to the alert list of this receiver. */ -}}
{{- define "__alertmanagerURL" -}}
{{ printf "%s/#/alerts?receiver=%s" .ExternalURL (urlquery .Receiver) }}
{{- end }}

{{- /* [FIRING:2] group label values (other common label values) */ -}}
{{- define "__subject" -}}
{{- $firing := "" -}}
{{- if eq .Status "firing" }}{{ $firing = printf ":%d" (len .Alerts.Firing) }}{{ end -}}
[{{ toUpper .Status }}{{ $firing }}] {{ join " " .GroupLabels.SortedPairs.Values }} {{ if gt (len .CommonLabels) (len .GroupLabels) -}}
({{ join " " (.CommonLabels.Remove .GroupLabels.Names).Values }})
{{- end }}
{{- end }}

{{- define "__description" }}{{ end }}

{{- /* One block per alert: its labels, annotations and source. Dot is a list of alerts. */ -}}
{{- define "__text_alert_list" -}}
{{ range . -}}
Labels:
{{ range .Labels.SortedPairs }}{{ printf " - %s = %s\n" .Name .Value }}{{ end -}}
Annotations:
{{ range .Annotations.SortedPairs }}{{ printf " - %s = %s\n" .Name .Value }}{{ end -}}
Source: {{ .GeneratorURL }}
{{ end -}}
{{ end }}

{{- /* Firing and resolved alerts as text, for chat and paging receivers. */ -}}
{{- define "__text_alerts_summary" -}}
{{ with .Alerts.Firing }}Alerts Firing:
{{ template "__text_alert_list" . }}{{ end -}}
{{ with .Alerts.Resolved }}Alerts Resolved:
{{ template "__text_alert_list" . }}{{ end -}}
{{ end }}

{{- define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{- define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{- define "slack.default.fallback" }}{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}{{ end }}
{{- define "slack.default.callbackid" }}{{ end }}
{{- define "slack.default.pretext" }}{{ end }}
{{- define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{- define "slack.default.iconemoji" }}{{ end }}
{{- define "slack.default.iconurl" }}{{ end }}
{{- define "slack.default.text" }}{{ end }}
{{- define "slack.default.footer" }}{{ end }}

{{- define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{- define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{- define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{- define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}

{{- define "webhook.default.summary" }}{{ template "__subject" . }}{{ end }}
{{- define "webhook.default.text" }}{{ template "__text_alerts_summary" . }}{{ end }}

{{- define "email.default.subject" }}{{ template "__subject" . }}{{ end }}

{{- define "__email_alert_rows" -}}
{{ range . -}}
<tr><td style="padding:8px 12px;border-top:1px solid #e3e6ea">
<div style="font-weight:600">{{ .Labels.alertname }}</div>
<table style="border-collapse:collapse;font-size:13px">
{{- range .Labels.SortedPairs }}<tr><td style="color:#5f6b7a;padding-right:8px">{{ .Name }}</td><td>{{ html .Value }}</td></tr>{{ end }}
{{- range .Annotations.SortedPairs }}<tr><td style="color:#5f6b7a;padding-right:8px">{{ .Name }}</td><td>{{ html .Value }}</td></tr>{{ end }}
</table>
{{- if .GeneratorURL }}<div><a href="{{ html .GeneratorURL }}">Source</a></div>{{ end }}
</td></tr>
{{ end -}}
{{ end }}

{{- define "email.default.html" -}}
<!DOCTYPE html>
<html><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width"><title>{{ template "__subject" . }}</title></head>
<body style="margin:0;padding:16px;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2933">
<table width="100%" style="max-width:640px;margin:0 auto;background:#fff;border-collapse:collapse;border:1px solid #e3e6ea">
<tr><td style="padding:12px;color:#fff;background:{{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }};font-size:16px;font-weight:600">
{{ len .Alerts.Firing }} firing, {{ len .Alerts.Resolved }} resolved{{ with .GroupLabels.SortedPairs }} for {{ range $i, $p := . }}{{ if $i }}, {{ end }}{{ $p.Name }}={{ html $p.Value }}{{ end }}{{ end }}
</td></tr>
<tr><td style="padding:12px"><a href="{{ template "__alertmanagerURL" . }}">View in {{ template "__vigil" . }}</a></td></tr>
{{- with .Alerts.Firing }}
<tr><td style="padding:8px 12px;font-weight:600;background:#fdf0ef">Firing</td></tr>
{{ template "__email_alert_rows" . }}
{{- end }}
{{- with .Alerts.Resolved }}
<tr><td style="padding:8px 12px;font-weight:600;background:#eef8f1">Resolved</td></tr>
{{ template "__email_alert_rows" . }}
{{- end }}
<tr><td style="padding:12px;color:#5f6b7a;font-size:12px">Sent by {{ template "__vigil" . }}</td></tr>
</table>
</body></html>
{{ end }}
`;
