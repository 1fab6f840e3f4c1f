package changeset

import (
	"container/heap"
	"fmt"
)

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

type mergeHeap []mergeItem

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return Compare(h[i].e, h[j].e) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (m *merger) pull(i int) error {
	e, ok, err := m.its[i].Next()
	if err != nil {
		return err
	}
	if ok {
		heap.Push(&m.h, mergeItem{e: e, it: i})
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
	if m.h.Len() == 0 {
		return Entry{}, false, nil
	}
	top := heap.Pop(&m.h).(mergeItem)
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
