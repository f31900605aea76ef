package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// apiClient is the HTTP client of the commands that drive a server from
// outside (bench, refund --csv): one merchant's key, a connection pool as
// wide as the concurrency, so that no request waits for a socket.
type apiClient struct {
	base string
	key  string
	http *http.Client
}

func newAPIClient(base, key string, concurrency int) *apiClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * concurrency
	t.MaxIdleConnsPerHost = concurrency
	return &apiClient{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Transport: t, Timeout: 2 * time.Minute}}
}

// apiAnswer is one HTTP answer, its body read whole.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; headers come in name, value pairs.
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body []byte, headers ...string) (apiAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return apiAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return apiAnswer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return apiAnswer{}, err
	}
	return apiAnswer{res.StatusCode, res.Header, raw}, nil
}

// getJSON fetches path and decodes a 200 answer into v, numbers exact.
func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	a, err := c.do(ctx, "GET", path, "", nil)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, a.status, bytes.TrimSpace(a.body))
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	return dec.Decode(v)
}

// apiErrorMessage returns the message of a native error answer, or the
// body itself when it is not one.
func apiErrorMessage(a apiAnswer) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(a.body, &e) == nil && e.Error.Message != "" {
		return e.Error.Code + ": " + e.Error.Message
	}
	return fmt.Sprintf("HTTP %d: %s", a.status, bytes.TrimSpace(a.body))
}

// progress is a progress bar on stderr when stderr is a terminal and the
// output is for people; otherwise it draws nothing, so that logs and
// --json output stay clean.
type progress struct{ bar *progressbar.ProgressBar }

func newProgress(stderr io.Writer, total int, what string, quiet bool) *progress {
	f, ok := stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{progressbar.NewOptions(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(what),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n) // drawing on a terminal; nothing to do if it fails
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
