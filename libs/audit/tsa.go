package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
)

// TSA asks an RFC 3161 time-stamping authority for a token over each
// checkpoint: a second, independent clock for customers who run one.
type TSA struct {
	URL  string
	HTTP *http.Client
}

// maxTSAResponse bounds a TSA's answer.
const maxTSAResponse = 1 << 20

// Stamp returns a time-stamp token over signedNote's checkpoint text.
func (t TSA) Stamp(ctx context.Context, signedNote []byte) ([]byte, error) {
	text, err := checkpointText(signedNote)
	if err != nil {
		return nil, err
	}
	req, err := timestamp.CreateRequest(bytes.NewReader(text), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return nil, fmt.Errorf("time-stamp request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("time-stamp request to %s: %w", t.URL, err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	client := t.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", t.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTSAResponse))
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: read the answer: %w", t.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("time-stamp authority %s answered %d", t.URL, resp.StatusCode)
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: not a valid time-stamp response: %w", t.URL, err)
	}
	if _, err := checkToken(ts, text); err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", t.URL, err)
	}
	return ts.RawToken, nil
}

// TSATime checks a stored token against its checkpoint (the token's
// signature and message imprint; roots, if given, must issue its
// signer) and returns the time the authority attests.
func TSATime(token, signedNote []byte, roots *x509.CertPool) (time.Time, error) {
	text, err := checkpointText(signedNote)
	if err != nil {
		return time.Time{}, err
	}
	ts, err := timestamp.Parse(token)
	if err != nil {
		return time.Time{}, fmt.Errorf("the time-stamp token does not verify: %w", err)
	}
	if roots != nil {
		if len(ts.Certificates) == 0 {
			return time.Time{}, errors.New("the time-stamp token carries no certificate to check against the TSA roots")
		}
		inter := x509.NewCertPool()
		for _, c := range ts.Certificates[1:] {
			inter.AddCert(c)
		}
		if _, err := ts.Certificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			CurrentTime: ts.Time, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
			return time.Time{}, fmt.Errorf("the time-stamp token's signer is not one of the TSA roots: %w", err)
		}
	}
	return checkToken(ts, text)
}

func checkToken(ts *timestamp.Timestamp, text []byte) (time.Time, error) {
	sum := sha256.Sum256(text)
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, sum[:]) {
		return time.Time{}, errors.New("the time-stamp token is over another text than this checkpoint")
	}
	return ts.Time, nil
}

// checkpointText is a signed note's text (what the log's key signed).
func checkpointText(signedNote []byte) ([]byte, error) {
	text, _, ok := bytes.Cut(signedNote, []byte("\n\n"))
	if !ok {
		return nil, errors.New("not a signed note")
	}
	return append(text, '\n'), nil
}
