package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// NewJobID names a job submitted at t: "j-" + UTC date, time and
// milliseconds + a random suffix, e.g. j-20250101-120000-123-a1b2c3. Ids
// sort by submission time and use only characters that are safe in
// object keys, actor ids and URLs.
func NewJobID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	t = t.UTC()
	return fmt.Sprintf("j-%s-%03d-%s", t.Format("20060102-150405"), t.Nanosecond()/int(time.Millisecond), hex.EncodeToString(b[:]))
}
