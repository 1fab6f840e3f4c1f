package app

import "slices"

// Slots are the running jobs of one connection: at most SOURCE_CONCURRENCY
// of them may hold a slot, so a source is never hit by more jobs at once.
type Slots struct {
	Holders []string `json:"holders"`
}

// Holds reports whether jobID holds a slot.
func (s Slots) Holds(jobID string) bool { return slices.Contains(s.Holders, jobID) }

// Without returns s without jobID.
func (s Slots) Without(jobID string) Slots {
	out := Slots{Holders: []string{}}
	for _, h := range s.Holders {
		if h != jobID {
			out.Holders = append(out.Holders, h)
		}
	}
	return out
}

// With returns s with jobID added (once).
func (s Slots) With(jobID string) Slots {
	if s.Holds(jobID) {
		return s
	}
	return Slots{Holders: append(slices.Clone(s.Holders), jobID)}
}
