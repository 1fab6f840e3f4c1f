package changeset

import "fmt"

// Merge yields the entries of several sorted iterators as one sorted
// stream: the digests of a job's partitions as the job's. An asset two of
// them hold is an error.
func Merge(its ...Iterator) Iterator {
	if len(its) == 1 {
		return its[0]
	}
	return &merger{its: its}
}

type merger struct {
	its     []Iterator
	h       mergeHeap
	started bool
	last    Entry
	n       int
}

type mergeItem struct {
	e  Entry
	it int
}

// mergeHeap is a min-heap of the iterators' current entries, written out
// rather than through container/heap, whose interface boxes every item.
type mergeHeap []mergeItem

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if Compare(s[i].e, s[p].e) >= 0 {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && Compare(s[l].e, s[m].e) < 0 {
			m = l
		}
		if r < len(s) && Compare(s[r].e, s[m].e) < 0 {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (m *merger) pull(i int) error {
	e, ok, err := m.its[i].Next()
	if err != nil {
		return err
	}
	if ok {
		m.h.push(mergeItem{e: e, it: i})
	}
	return nil
}

func (m *merger) Next() (Entry, bool, error) {
	if !m.started {
		m.started = true
		for i := range m.its {
			if err := m.pull(i); err != nil {
				return Entry{}, false, err
			}
		}
	}
	if len(m.h) == 0 {
		return Entry{}, false, nil
	}
	top := m.h.pop()
	if err := m.pull(top.it); err != nil {
		return Entry{}, false, err
	}
	if m.n > 0 && Compare(m.last, top.e) == 0 {
		return Entry{}, false, fmt.Errorf("changeset: %s %s is listed twice", top.e.Kind, top.e.QualifiedName)
	}
	m.last = top.e
	m.n++
	return top.e, true, nil
}

// Close closes every iterator that can be.
func (m *merger) Close() {
	for _, it := range m.its {
		closeIterator(it)
	}
}
