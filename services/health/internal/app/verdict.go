package app

import (
	"fmt"
	"sort"
	"strings"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
)

// ObjectStoreStatus is one object store (a binding component name) as
// every app that loaded it sees it.
type ObjectStoreStatus struct {
	Type string `json:"type"`
	// Check is error when any app's check failed, ok when every app's
	// passed, loaded otherwise.
	Check string `json:"check"`
	// Apps maps each app that loaded the store to its check.
	Apps map[string]string `json:"apps"`
	// Detail quotes the failing apps' details.
	Detail string `json:"detail,omitempty"`
}

// healthAppID names health's own report in problems and object stores
// when its report carries no app id.
const healthAppID = "health"

// reports lists every sidecar report in the status: health's own first,
// then the apps' in app-id order.
func reports(r Report) []bootstrap.SidecarReport {
	var out []bootstrap.SidecarReport
	if r.Self != nil {
		self := *r.Self
		if self.AppID == "" {
			self.AppID = healthAppID
		}
		out = append(out, self)
	}
	for _, id := range sortedApps(r.Apps) {
		if rep := r.Apps[id].Sidecar; rep != nil {
			out = append(out, *rep)
		}
	}
	return out
}

func objectStores(r Report) map[string]ObjectStoreStatus {
	out := map[string]ObjectStoreStatus{}
	details := map[string][]string{}
	for _, rep := range reports(r) {
		for _, c := range rep.Components {
			if !bootstrap.IsObjectStore(c.Type) {
				continue
			}
			st, ok := out[c.Name]
			if !ok {
				st = ObjectStoreStatus{Type: c.Type, Apps: map[string]string{}}
			}
			st.Apps[rep.AppID] = c.Check
			if c.Check == bootstrap.CheckError {
				details[c.Name] = append(details[c.Name], rep.AppID+": "+c.Detail)
			}
			out[c.Name] = st
		}
	}
	for name, st := range out {
		st.Check = combined(st.Apps)
		st.Detail = strings.Join(details[name], "; ")
		out[name] = st
	}
	return out
}

// combined is error if any check failed, ok if all passed, else loaded.
func combined(checks map[string]string) string {
	all := bootstrap.CheckOK
	for _, c := range checks {
		if c == bootstrap.CheckError {
			return bootstrap.CheckError
		}
		if c != bootstrap.CheckOK {
			all = bootstrap.CheckLoaded
		}
	}
	return all
}

// verdict decides the overall status and lists every problem, the ones
// that make the agent down first.
func verdict(r Report) (Overall, []string) {
	var down, degraded []string
	if !r.Sidecar.Healthy {
		down = append(down, "health's sidecar: "+r.Sidecar.Error)
	}
	for _, id := range sortedApps(r.Apps) {
		st := r.Apps[id]
		if !st.Ready {
			down = append(down, fmt.Sprintf("%s: not ready: %s", id, st.Error))
		}
		if st.Sidecar == nil {
			degraded = append(degraded, fmt.Sprintf("%s: no sidecar report: %s", id, st.SidecarError))
		}
	}
	for _, rep := range reports(r) {
		for _, p := range rep.Problems() {
			degraded = append(degraded, rep.AppID+": "+p)
		}
	}
	if b := r.Broker; b != nil && !b.OK {
		degraded = append(degraded, "broker: "+b.Error)
	}
	if dl := r.DeadLetters; dl != nil {
		switch {
		case dl.Error != "":
			degraded = append(degraded, "dead letters: cannot be read: "+dl.Error)
		case dl.Pending > 0:
			degraded = append(degraded, fmt.Sprintf("dead letters: %d message(s) were refused by an app and are kept; "+
				"see them with `agentctl deadletters list`, then replay or discard each", dl.Pending))
		}
	}
	if a := r.Audit; a != nil && a.State != "ok" {
		for _, p := range a.Problems {
			degraded = append(degraded, "audit log: "+p)
		}
	}
	problems := append(down, degraded...)
	if problems == nil {
		problems = []string{}
	}
	switch {
	case len(down) > 0:
		return Down, problems
	case len(degraded) > 0:
		return Degraded, problems
	}
	return OK, problems
}

func sortedApps(m map[string]AppStatus) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
