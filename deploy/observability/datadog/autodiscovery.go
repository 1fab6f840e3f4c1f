package datadog

// ChecksFile is the name of the file with the checks' instance
// configurations, here and in the chart (charts/secure-agent/files/datadog/),
// whose Deployment template fills in each pod's endpoint and tags.
const ChecksFile = "checks.json"

// ChecksJSON is checks.json: each check's instance configuration without
// endpoint and tags, keyed by the container it scrapes ("app", "daprd").
func ChecksJSON() ([]byte, error) {
	out := map[string]Instance{}
	for _, c := range Checks() {
		out[c.Container] = c.Instance("")
	}
	return indentJSON(out)
}

// Autodiscovery is the value of the annotation
// ad.datadoghq.com/<container>.checks (Autodiscovery v2, Agent 7.36+) that
// runs the OpenMetrics check with inst.
type Autodiscovery struct {
	OpenMetrics AutodiscoveryCheck `json:"openmetrics"`
}

// AutodiscoveryCheck is one integration's entry in the annotation.
type AutodiscoveryCheck struct {
	InitConfig struct{}   `json:"init_config"`
	Instances  []Instance `json:"instances"`
}
