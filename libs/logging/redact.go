package logging

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted is the placeholder written instead of a secret.
const Redacted = "[REDACTED]"

// secretWords are matched against a single word segment of a key. Matching
// whole segments (rather than substrings) is what keeps "tokenizer_count" and
// "secretary" out while still catching "db_password" and "refreshToken".
var secretWords = map[string]struct{}{
	"password": {}, "passwords": {}, "passwd": {}, "pwd": {}, "passphrase": {},
	"secret": {}, "secrets": {},
	"token": {}, "tokens": {},
	"apikey": {}, "apikeys": {},
	"credential": {}, "credentials": {},
	"privatekey":    {},
	"authorization": {},
	"authheader":    {},
	"cookie":        {}, "cookies": {},
	"sessionkey":       {},
	"clientsecret":     {},
	"dsn":              {},
	"connectionstring": {}, "connstring": {},
	"accesskey": {},
	"sas":       {},
}

// secretPairs are two consecutive segments that only mean "secret" together:
// "api" or "key" alone is far too common to redact.
var secretPairs = map[[2]string]struct{}{
	{"api", "key"}:           {},
	{"api", "keys"}:          {},
	{"private", "key"}:       {},
	{"auth", "header"}:       {},
	{"session", "key"}:       {},
	{"client", "secret"}:     {},
	{"connection", "string"}: {},
	{"access", "key"}:        {},
	{"encryption", "key"}:    {},
	{"signing", "key"}:       {},
	{"master", "key"}:        {},
}

// secretSubstrings catch run-together lowercase keys such as "PGPASSWORD" or
// "dbpassword" that no case or separator splits. Only terms that are
// unambiguous inside a longer word are listed ("secret" is not: "secretary").
var secretSubstrings = []string{
	"password", "passwd", "passphrase", "apikey", "privatekey", "clientsecret", "connectionstring",
}

// metadataSuffixes mark keys that describe a secret without holding it
// ("secret_name", "token_type", "password_file"). Without this exemption
// every Dapr secret-store reference would be masked, which makes incidents
// harder to debug for no security gain. Identifiers such as "secret_id" are
// deliberately absent: a Vault AppRole secret_id is itself a credential.
var metadataSuffixes = map[string]struct{}{
	"name": {}, "names": {}, "ref": {}, "store": {}, "type": {}, "count": {},
	"path": {}, "file": {}, "len": {}, "length": {}, "ttl": {}, "expiry": {},
	"expires": {}, "source": {}, "provider": {}, "version": {}, "enabled": {},
	"set": {}, "present": {}, "configured": {}, "rotated": {},
}

// IsSecretKey reports whether a field/key name looks like it holds a secret.
//
// The key is split into lowercase word segments on any non-alphanumeric
// separator, on camelCase humps ("clientSecret", "APIKey") and on
// letter/digit changes ("oauth2Token"). It is a secret when a segment is a
// secret word, two adjacent segments form a secret pair ("api"+"key"), or a
// segment contains an unambiguous secret substring ("pgpassword"), unless the
// last segment is a metadata suffix ("secret_name", "token_type").
//
// The bias is towards redacting: "token_count" or "pwd" (the shell variable)
// are masked too, because a false positive costs a little debuggability while
// a false negative leaks a production credential.
func IsSecretKey(key string) bool {
	segs := splitKey(key)
	if len(segs) == 0 {
		return false
	}
	found := false
	for i, s := range segs {
		if _, ok := secretWords[s]; ok {
			found = true
			break
		}
		if i+1 < len(segs) {
			if _, ok := secretPairs[[2]string{s, segs[i+1]}]; ok {
				found = true
				break
			}
		}
		for _, sub := range secretSubstrings {
			if strings.Contains(s, sub) {
				found = true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return false
	}
	if len(segs) > 1 {
		if _, ok := metadataSuffixes[segs[len(segs)-1]]; ok {
			return false
		}
	}
	return true
}

// splitKey breaks a key into lowercase word segments.
func splitKey(key string) []string {
	var segs []string
	runes := []rune(key)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			segs = append(segs, strings.ToLower(string(runes[start:end])))
		}
		start = -1
	}
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := runes[i-1]
		switch {
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			// "clientSecret", "oauth2Token"
			flush(i)
			start = i
		case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(runes) && unicode.IsLower(runes[i+1]):
			// End of an acronym: "APIKey" -> "API", "Key".
			flush(i)
			start = i
		case unicode.IsDigit(r) != unicode.IsDigit(prev):
			// "oauth2token" -> "oauth", "2", "token"
			flush(i)
			start = i
		}
	}
	flush(len(runes))
	return segs
}

var (
	// scheme://user:password@host. The password is matched greedily up to the
	// last '@' of the token so that an unencoded '@' or '/' inside it is
	// masked too; the price is occasional over-masking of odd URLs.
	urlUserinfoRe = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/?#@"'<>]*):([^\s"'<>]*)@`)

	// Go MySQL driver DSNs have no scheme: user:password@tcp(host:3306)/db.
	mysqlDSNRe = regexp.MustCompile(`([A-Za-z0-9_.\-]+):([^\s"'<>]*)@(tcp6?|udp|unix|memory|pipe)\(`)

	// A key followed by '=' or ':' (optionally quoted, or JSON-escaped
	// quoted as it appears inside an error string). The value is parsed by
	// hand in redactKeyValues because its shape depends on the quote.
	keySepRe = regexp.MustCompile(`(\\?["']?)([A-Za-z_][A-Za-z0-9_.\-]*)(\\?["']?)[ \t]*[=:][ \t]*`)

	bearerRe = regexp.MustCompile(`(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*`)

	// A truncated PEM block (no END line) is masked to the end of the text.
	pemRe = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
)

// authSchemes are HTTP auth scheme words; when a secret key's value starts
// with one, the credential after it belongs to the value too.
var authSchemes = map[string]struct{}{
	"bearer": {}, "basic": {}, "digest": {}, "negotiate": {}, "ntlm": {}, "token": {}, "apikey": {},
}

// RedactString masks secrets embedded in free text: URL userinfo passwords
// ("postgres://u:pw@h" → "postgres://u:[REDACTED]@h"), key=value / key: value
// pairs whose key IsSecretKey ("password=x", "token: x", JSON
// "\"secret\":\"x\""), HTTP "Bearer xxx" credentials and PEM private keys.
//
// Free text has no grammar, so this is best effort and errs on masking too
// much: an unquoted value runs to the next whitespace or quote (a password
// containing a space is only partly masked). Structured fields with a secret
// key are the reliable path and are masked whole by the core.
func RedactString(s string) string {
	if !mayContainSecret(s) {
		return s
	}
	s = pemRe.ReplaceAllLiteralString(s, Redacted)
	s = urlUserinfoRe.ReplaceAllString(s, "${1}${2}:"+Redacted+"@")
	s = mysqlDSNRe.ReplaceAllString(s, "${1}:"+Redacted+"@${3}(")
	s = redactKeyValues(s)
	s = bearerRe.ReplaceAllString(s, "${1}${2}"+Redacted)
	return s
}

// mayContainSecret is a cheap pre-check so the common log message without any
// separator pays no regexp cost.
func mayContainSecret(s string) bool {
	if strings.ContainsAny(s, "=:@") || strings.Contains(s, "PRIVATE KEY") {
		return true
	}
	for i := 0; i+6 <= len(s); i++ {
		if (s[i] == 'b' || s[i] == 'B') && strings.EqualFold(s[i:i+6], "bearer") {
			return true
		}
	}
	return false
}

func redactKeyValues(s string) string {
	var b strings.Builder
	pos := 0 // s[:pos] has been copied to b
	search := 0
	for search < len(s) {
		m := keySepRe.FindStringSubmatchIndex(s[search:])
		if m == nil {
			break
		}
		keyEnd := search + m[5]
		valStart := search + m[1]
		key := s[search+m[4] : keyEnd]
		if !IsSecretKey(key) {
			// Resume right after the key, not after the value: the value of a
			// harmless key may itself hold "password=...".
			search = keyEnd
			continue
		}
		vs, ve, quote := valueSpan(s, valStart)
		if ve == vs || strings.HasPrefix(s[vs:], Redacted) {
			search = max(ve, keyEnd)
			continue
		}
		b.WriteString(s[pos:vs])
		b.WriteString(Redacted)
		pos = ve
		search = ve + len(quote)
	}
	if pos == 0 {
		return s
	}
	b.WriteString(s[pos:])
	return b.String()
}

// valueSpan returns the [start,end) of the value that begins at i and the
// closing quote that follows it (kept in the output so JSON stays readable).
func valueSpan(s string, i int) (start, end int, closing string) {
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, `\"`):
		if j := strings.Index(rest[2:], `\"`); j >= 0 {
			return i + 2, i + 2 + j, `\"`
		}
		return i + 2, i + 2 + tokenEnd(rest[2:]), ""
	case strings.HasPrefix(rest, `"`):
		// JSON string: honour backslash escapes. An unterminated string is
		// masked to the end because we cannot know where it stops.
		for j := 1; j < len(rest); j++ {
			switch rest[j] {
			case '\\':
				j++
			case '"':
				return i + 1, i + j, `"`
			}
		}
		return i + 1, len(s), ""
	case strings.HasPrefix(rest, `'`):
		if j := strings.IndexByte(rest[1:], '\''); j >= 0 {
			return i + 1, i + 1 + j, `'`
		}
		return i + 1, i + 1 + tokenEnd(rest[1:]), ""
	}
	// Skip brackets so http.Header's "Authorization:[Bearer x]" is covered,
	// but stop at an existing placeholder, which itself starts with '['.
	lead := 0
	for lead < len(rest) && !strings.HasPrefix(rest[lead:], Redacted) &&
		(rest[lead] == '[' || rest[lead] == '{' || rest[lead] == '(') {
		lead++
	}
	if strings.HasPrefix(rest[lead:], Redacted) {
		return i + lead, i + lead, ""
	}
	end = lead + tokenEnd(rest[lead:])
	if _, ok := authSchemes[strings.ToLower(rest[lead:end])]; ok {
		// "Bearer <token>": extend over the whitespace to the credential.
		k := end
		for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t') {
			k++
		}
		if k > end && k < len(rest) {
			end = k + tokenEnd(rest[k:])
		}
	}
	return i + lead, i + end, ""
}

// tokenEnd is the length of the unquoted value at the start of s: up to
// whitespace or a quote. Commas, semicolons and ampersands are deliberately
// not terminators since generated passwords contain them; masking the rest
// of a query string is the cheaper mistake.
func tokenEnd(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) || r == '"' || r == '\'' {
			return i
		}
		i += size
	}
	return len(s)
}

// minEncodedForm is the shortest encoded form RedactSecret cuts: shorter
// ones (the hex of a one-letter secret) would cut unrelated text.
const minEncodedForm = 4

// SecretForms are the ways a server may echo a secret back in an error:
// the secret itself, its base64 (standard and URL alphabets, padded and
// raw), the base64 runs it leaves inside a longer encoded text at each
// alignment (an echoed "user:password" basic-auth value), its URL-encoded
// forms (query and path escaping, upper- and lower-case escapes) and its
// hex (lower and upper case). Longest first, so a form that contains
// another is cut whole.
func SecretForms(secret string) []string {
	if secret == "" {
		return nil
	}
	forms := []string{secret}
	add := func(f string) {
		if len(f) >= minEncodedForm && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(secret)))
		for _, f := range base64Runs(enc, secret) {
			add(f)
		}
	}
	for _, esc := range []string{url.QueryEscape(secret), url.PathEscape(secret), strings.ReplaceAll(url.QueryEscape(secret), "+", "%20")} {
		add(esc)
		add(lowerEscapes(esc))
	}
	add(hex.EncodeToString([]byte(secret)))
	add(strings.ToUpper(hex.EncodeToString([]byte(secret))))
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

// base64Runs are the characters of secret's encoding that do not depend on
// what comes before or after it, for the secret starting at each of the
// three byte offsets of a base64 group.
func base64Runs(enc *base64.Encoding, secret string) []string {
	var out []string
	for off := 1; off <= 2; off++ {
		pad := strings.Repeat("\x00", off)
		full := enc.Strict().WithPadding(base64.NoPadding).EncodeToString([]byte(pad + secret))
		// The first group mixes the prefix in: skip the characters that
		// hold prefix bits; the last partial group may mix in the suffix.
		start := (off*8 + 5) / 6
		end := (off + len(secret)) * 8 / 6
		if end-start >= minEncodedForm {
			out = append(out, full[start:end])
		}
	}
	// Offset 0, without the trailing characters a suffix would change.
	full := enc.WithPadding(base64.NoPadding).EncodeToString([]byte(secret))
	if n := len(secret) * 8 / 6; n >= minEncodedForm && n < len(full) {
		out = append(out, full[:n])
	}
	return out
}

// lowerEscapes writes %XX escapes with lower-case hex digits.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = byte(unicode.ToLower(rune(b[i+1])))
			b[i+2] = byte(unicode.ToLower(rune(b[i+2])))
			i += 2
		}
	}
	return string(b)
}

// RedactSecret replaces every form of secret (SecretForms) in s with
// Redacted.
func RedactSecret(s, secret string) string {
	for _, f := range SecretForms(secret) {
		s = strings.ReplaceAll(s, f, Redacted)
	}
	return s
}
