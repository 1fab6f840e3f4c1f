package model

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkSchemaMessage walks the flatbuffer of a stream's schema message with
// bounds checks before Arrow decodes it. Arrow's decoder sizes slices from
// vector lengths it reads unchecked (fields, children, metadata), so one
// corrupt length makes it allocate hundreds of gigabytes, which the Go
// runtime cannot recover from. Here every vector must fit in the buffer.
func checkSchemaMessage(buf []byte) error {
	fb := flatBuf(buf)
	root, err := fb.u32(0)
	if err != nil {
		return err
	}
	msg, err := fb.table(int64(root))
	if err != nil {
		return err
	}
	if p, ok, err := msg.field(1, 1); err != nil {
		return err
	} else if !ok || fb[p] != 1 { // header_type must be MessageHeader.Schema
		return errors.New("the stream does not start with a schema")
	}
	if err := fb.keyValues(msg, 4); err != nil {
		return err
	}
	schema, ok, err := msg.ref(2)
	if err != nil || !ok {
		return errors.Join(errors.New("schema message without a schema"), err)
	}
	sch, err := fb.table(schema)
	if err != nil {
		return err
	}
	if err := fb.fields(sch, 1, 0); err != nil {
		return err
	}
	if err := fb.keyValues(sch, 2); err != nil {
		return err
	}
	if p, ok, err := sch.ref(3); err != nil {
		return err
	} else if ok {
		if _, err := fb.vector(p, 8); err != nil { // features
			return err
		}
	}
	return nil
}

var errFlatBuf = errors.New("corrupt schema metadata")

type flatBuf []byte

type fbTable struct {
	fb     flatBuf
	pos    int64
	vtable int64
	slots  int64
}

func (fb flatBuf) has(p, n int64) bool { return p >= 0 && n >= 0 && p+n <= int64(len(fb)) }

func (fb flatBuf) u32(p int64) (uint32, error) {
	if !fb.has(p, 4) {
		return 0, errFlatBuf
	}
	return binary.LittleEndian.Uint32(fb[p:]), nil
}

func (fb flatBuf) table(p int64) (fbTable, error) {
	so, err := fb.u32(p)
	if err != nil {
		return fbTable{}, err
	}
	vt := p - int64(int32(so))
	if !fb.has(vt, 4) {
		return fbTable{}, errFlatBuf
	}
	vtSize := int64(binary.LittleEndian.Uint16(fb[vt:]))
	if vtSize < 4 || vtSize%2 != 0 || !fb.has(vt, vtSize) {
		return fbTable{}, errFlatBuf
	}
	return fbTable{fb: fb, pos: p, vtable: vt, slots: (vtSize - 4) / 2}, nil
}

// field returns the position of field i (size bytes), if present.
func (t fbTable) field(i, size int64) (int64, bool, error) {
	if i >= t.slots {
		return 0, false, nil
	}
	off := int64(binary.LittleEndian.Uint16(t.fb[t.vtable+4+2*i:]))
	if off == 0 {
		return 0, false, nil
	}
	p := t.pos + off
	if !t.fb.has(p, size) {
		return 0, false, errFlatBuf
	}
	return p, true, nil
}

// ref follows the offset stored in field i (a table, vector or string).
func (t fbTable) ref(i int64) (int64, bool, error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return 0, false, err
	}
	o, err := t.fb.u32(p)
	if err != nil {
		return 0, false, err
	}
	target := p + int64(o)
	if !t.fb.has(target, 4) {
		return 0, false, errFlatBuf
	}
	return target, true, nil
}

// vector checks the vector at p fits and returns its length.
func (fb flatBuf) vector(p, elemSize int64) (int64, error) {
	n, err := fb.u32(p)
	if err != nil {
		return 0, err
	}
	if !fb.has(p+4, int64(n)*elemSize) {
		return 0, fmt.Errorf("%w: a vector of %d entries overruns the message", errFlatBuf, n)
	}
	return int64(n), nil
}

// tables calls fn for each table of the vector in field i of t.
func (fb flatBuf) tables(t fbTable, i int64, fn func(fbTable) error) error {
	p, ok, err := t.ref(i)
	if err != nil || !ok {
		return err
	}
	n, err := fb.vector(p, 4)
	if err != nil {
		return err
	}
	for j := int64(0); j < n; j++ {
		e := p + 4 + 4*j
		o, _ := fb.u32(e) // in bounds: vector checked
		tbl, err := fb.table(e + int64(o))
		if err != nil {
			return err
		}
		if err := fn(tbl); err != nil {
			return err
		}
	}
	return nil
}

func (fb flatBuf) str(t fbTable, i int64) error {
	p, ok, err := t.ref(i)
	if err != nil || !ok {
		return err
	}
	_, err = fb.vector(p, 1)
	return err
}

func (fb flatBuf) keyValues(t fbTable, i int64) error {
	return fb.tables(t, i, func(kv fbTable) error {
		if err := fb.str(kv, 0); err != nil {
			return err
		}
		return fb.str(kv, 1)
	})
}

// maxFieldDepth is far deeper than any model schema (list<utf8> is 2).
const maxFieldDepth = 16

func (fb flatBuf) fields(t fbTable, i int64, depth int) error {
	if depth > maxFieldDepth {
		return fmt.Errorf("%w: fields nested deeper than %d", errFlatBuf, maxFieldDepth)
	}
	return fb.tables(t, i, func(f fbTable) error {
		if err := fb.str(f, 0); err != nil { // name
			return err
		}
		for _, sub := range []int64{3, 4} { // type, dictionary
			if p, ok, err := f.ref(sub); err != nil {
				return err
			} else if ok {
				if _, err := fb.table(p); err != nil {
					return err
				}
			}
		}
		if err := fb.fields(f, 5, depth+1); err != nil { // children
			return err
		}
		return fb.keyValues(f, 6)
	})
}
