package mysql

import (
	"strconv"

	"github.com/secure-agent/secure-agent/libs/model"
)

// textCol cuts a free-text column in SQL to chars characters, so a huge
// comment, definition or expression never crosses the wire; the Writer
// then cuts it to MaxTextBytes bytes and marks it truncated. chars 0
// leaves the column whole.
func textCol(expr string, chars int) string {
	if chars <= 0 {
		return expr
	}
	return "LEFT(" + expr + ", " + strconv.Itoa(chars) + ")"
}

// textChars is the SQL cap for w: one character more than the Writer
// keeps, so the Writer sees which values were longer (a character is up to
// 4 bytes, so a value of MaxTextBytes characters may still be cut).
func textChars(w *model.Writer) int { return w.MaxTextBytes() + 1 }
