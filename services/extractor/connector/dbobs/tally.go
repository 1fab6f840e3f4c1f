package dbobs

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Tally counts the statements sent under a context, by name: the audit
// log records which statements each partition's run sent.
type Tally struct {
	mu sync.Mutex
	n  map[string]int
}

type tallyKey struct{}

// WithTally returns a context whose statements are counted in the
// returned Tally.
func WithTally(ctx context.Context) (context.Context, *Tally) {
	t := &Tally{n: map[string]int{}}
	return context.WithValue(ctx, tallyKey{}, t), t
}

func tallyOf(ctx context.Context, name string) {
	if t, ok := ctx.Value(tallyKey{}).(*Tally); ok {
		t.mu.Lock()
		t.n[name]++
		t.mu.Unlock()
	}
}

// Total is the number of statements counted.
func (t *Tally) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.n {
		n += c
	}
	return n
}

// Names lists each statement name with its count, sorted: "columns=3 tables=1".
func (t *Tally) Names() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.n))
	for k := range t.n {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strconv.Itoa(t.n[k]))
	}
	return b.String()
}
