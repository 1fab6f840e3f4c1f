// Command vulnerable is the vulnerability gate's fixture: it calls
// golang.org/x/text/language.ParseAcceptLanguage at v0.3.7, which
// GO-2022-1059 (fixed in v0.3.8) makes reachable. The gate must fail on it.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage("en-US,en;q=0.9")
	fmt.Println(tags, err)
}
