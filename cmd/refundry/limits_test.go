package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/internal/testenv"
)

// limitRoute is one authenticated route of each edge, with how it takes
// its key and how to tell its error shape.
type limitRoute struct {
	name, method, path string
	auth               func(r *http.Request, key string)
	// shape checks an error body is the edge's own and returns the status
	// or code word it carries ("" if the shape has none).
	shape func(t *testing.T, body map[string]any) string
}

func limitRoutes(saleID, lineItemID string, txnNumber int64) []limitRoute {
	message := func(t *testing.T, b map[string]any) string {
		if m, _ := b["message"].(string); m == "" {
			t.Errorf("no message in %v", b)
		}
		return ""
	}
	return []limitRoute{
		{"native", "POST", "/v1/refunds", bearer, func(t *testing.T, b map[string]any) string {
			e, _ := b["error"].(map[string]any)
			if e == nil || e["message"] == "" {
				t.Errorf("not a native error: %v", b)
				return ""
			}
			return e["code"].(string)
		}},
		{"keepup", "PUT", "/v2.0/sales/refund/" + saleID, bearer, func(t *testing.T, b map[string]any) string {
			if b["error"] == "" || len(b) != 2 {
				t.Errorf("not a KeepUp error: %v", b)
			}
			n, _ := b["status"].(float64)
			return strconv.Itoa(int(n))
		}},
		{"talkable", "POST", "/api/v2/origins/" + saleID + "/refund", func(r *http.Request, key string) { r.SetBasicAuth(key, "") }, func(t *testing.T, b map[string]any) string {
			if b["ok"] != false || b["error_message"] == "" {
				t.Errorf("not a Talkable error: %v", b)
			}
			return ""
		}},
		{"payop", "POST", "/v1/refunds/create", bearer, message},
		{"revcent", "POST", "/v2/product_sales/" + lineItemID + "/refund", func(r *http.Request, key string) { r.Header.Set("X-API-Key", key) }, func(t *testing.T, b map[string]any) string {
			if len(b) != 6 || b["code"] != float64(0) {
				t.Errorf("not a RevCent error: %v", b)
			}
			return b["error_code"].(string)
		}},
		{"jetti", "PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", txnNumber), bearer, message},
	}
}

// Every edge answers a key past its allowance 429 in its own shape, with
// Retry-After; the next key is not held back by it.
func TestRateLimitEveryEdge(t *testing.T) {
	env := testenv.New(t)
	sale := env.Sale(testenv.SaleSpec{})
	wantCode := map[string]string{"native": "rate_limited", "keepup": "429", "revcent": "rate_limited"}
	for _, e := range limitRoutes(sale.ID, sale.LineItems[0].ID, sale.Transactions[0].Number) {
		t.Run(e.name, func(t *testing.T) {
			// A token every 100 s: the third ask at once is refused.
			srv := httptest.NewServer(edge.RateLimit(edge.NewRateLimiter(0.01, 2), newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine))))
			defer srv.Close()
			ask := func(key string) (*http.Response, map[string]any) {
				// A body the edge refuses (422/400) does as well as a refund:
				// the limit is taken before the body is read.
				req, _ := http.NewRequest(e.method, srv.URL+e.path, strings.NewReader(`{"nonsense": true}`))
				req.Header.Set("Content-Type", "application/json")
				e.auth(req, key)
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var body map[string]any
				_ = json.NewDecoder(res.Body).Decode(&body)
				return res, body
			}
			for i := range 2 {
				if res, body := ask(env.KeyA); res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
					t.Fatalf("ask %d within the burst: %d %v", i, res.StatusCode, body)
				}
			}
			res, body := ask(env.KeyA)
			if res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("third ask: %d %v, want 429", res.StatusCode, body)
			}
			if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 90 || ra > 100 {
				t.Fatalf("Retry-After %q, want about 100 s", res.Header.Get("Retry-After"))
			}
			if got := e.shape(t, body); got != wantCode[e.name] {
				t.Fatalf("code %q, want %q", got, wantCode[e.name])
			}
			if res, body := ask(env.KeyB); res.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("another key held back: %v", body)
			}
			// A key that is no key is answered 401, whatever the limit:
			// nobody spends a merchant's allowance by guessing.
			if res, _ := ask("rk_live_nonsense"); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad key: %d, want 401", res.StatusCode)
			}
		})
	}
}

// serveInProcess runs serve in this process with args and returns its base
// URL and a stop that cancels it and waits until run has returned.
func serveInProcess(t *testing.T, args ...string) (base string, logs *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, io.Discard, logs)
	}()
	addr := logs.await(t, listenLine)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not stop; logs:\n%s", logs.String())
		}
	}
	t.Cleanup(stop)
	return addr, logs, stop
}

func newMerchantKey(t *testing.T, db string) string {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), []string{"merchant", "create", "--slug", "limits", "--name", "Limits", "--db", db}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var mc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out.String()), &mc); err != nil {
		t.Fatal(err)
	}
	return mc.APIKey
}

// Slow-loris and slow uploads: a client that trickles its headers hears
// 408 (plain text: no route is known yet), one that trickles its body
// hears 408 in the route's own shape; headers past the limit are 431, a
// Payop refund with the 800 KB of metadata its seed allows passes the
// server's limits; and once serve stops, none of the goroutines those
// connections had is left behind.
func TestSlowClientsAndServerLimits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	key := newMerchantKey(t, db)
	addr, _, stop := serveInProcess(t, "--db", db, "--read-header-timeout", "300ms", "--read-timeout", "1s", "--max-header-bytes", "8192")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.Transport.(*http.Transport).CloseIdleConnections()

	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, bufio.NewReader(c)
	}

	t.Run("HeadersTrickled", func(t *testing.T) {
		c, br := dial(t)
		// A header line every 100 ms never ends the headers; the deadline
		// is on all of them, so the trickle does not keep it alive.
		go func() {
			_, _ = io.WriteString(c, "POST /v1/refunds HTTP/1.1\r\nHost: x\r\n")
			for i := range 50 {
				time.Sleep(100 * time.Millisecond)
				if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer after %s: %v", time.Since(start), err)
		}
		text, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestTimeout || !res.Close || !strings.Contains(string(text), "too slowly") {
			t.Fatalf("answer %d %q (close %v), want 408 and the connection closed", res.StatusCode, text, res.Close)
		}
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Fatalf("after the 408: %q; want the connection closed", rest)
		}
	})

	t.Run("IdleKeepAliveSilent", func(t *testing.T) {
		// A connection that sends nothing is ended without an answer
		// (an answer to no request would be a protocol error).
		_, br := dial(t)
		if b, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("read %q, %v; want the connection closed without a word", b, err)
		}
	})

	t.Run("HeadersTooLarge", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", res.StatusCode)
		}
	})

	wantCode := map[string]string{"native": "request_timeout", "keepup": "408", "revcent": "request_timeout"}
	for _, e := range limitRoutes("01JBOGUSSALE00000000", "01JBOGUSLINE00000000", 1) {
		t.Run("BodyTrickled/"+e.name, func(t *testing.T) {
			c, br := dial(t)
			req, _ := http.NewRequest(e.method, "http://"+addr+e.path, nil)
			e.auth(req, key)
			var head strings.Builder
			fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n", e.method, e.path, addr)
			for k, v := range req.Header {
				fmt.Fprintf(&head, "%s: %s\r\n", k, v[0])
			}
			head.WriteString("\r\n{")
			if _, err := io.WriteString(c, head.String()); err != nil {
				t.Fatal(err)
			}
			go func() {
				for range 40 {
					time.Sleep(100 * time.Millisecond)
					if _, err := io.WriteString(c, " "); err != nil {
						return
					}
				}
			}()
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("%d answer is not JSON: %v", res.StatusCode, err)
			}
			if res.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d %v, want 408", res.StatusCode, body)
			}
			if got := e.shape(t, body); got != wantCode[e.name] {
				t.Fatalf("code %q, want %q", got, wantCode[e.name])
			}
		})
	}

	t.Run("PayopLargestMetadata", func(t *testing.T) {
		post := func(path, body string) (int, map[string]any) {
			req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(res.Body).Decode(&out)
			return res.StatusCode, out
		}
		status, sale := post("/v1/sales", `{"currency": "USD", "line_items": [{"name": "t", "quantity": 1, "unit_amount": 1000}], "payment": {"reference": "meta-1"}}`)
		if status != 201 {
			t.Fatalf("sale: %d %v", status, sale)
		}
		// Just under 800 KB once serialized, the seed's most: a string
		// of 819,197 bytes and its two quotes.
		meta := `"` + strings.Repeat("m", 800<<10-3) + `"`
		status, out := post("/v1/refunds/create", `{"transactionIdentifier": "meta-1", "refundType": 2, "amount": 1, "metadata": `+meta+`}`)
		if status/100 != 2 {
			t.Fatalf("800 KB of metadata: %d %v", status, out)
		}
	})

	client.Transport.(*http.Transport).CloseIdleConnections()
	stop()
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "refundry test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	key := newMerchantKey(t, db)
	addr, logs, stop := serveInProcess(t, "--db", db, "--tls-cert", certFile, "--tls-key", keyFile)
	defer stop()
	if !strings.Contains(logs.String(), "url=https://") {
		t.Fatalf("serve does not say it serves https:\n%s", logs.String())
	}

	for _, c := range []struct {
		name       string
		maxVersion uint16
		ok         bool
	}{
		{"TLS1.3", tls.VersionTLS13, true},
		{"TLS1.2", tls.VersionTLS12, true},
		{"TLS1.1Refused", tls.VersionTLS11, false},
		{"TLS1.0Refused", tls.VersionTLS10, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: c.maxVersion}, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "https://"+addr+"/v1/sales", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := (&http.Client{Transport: tr}).Do(req)
			if !c.ok {
				if err == nil {
					res.Body.Close()
					t.Fatalf("handshake at most %x accepted", c.maxVersion)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version != c.maxVersion {
				t.Fatalf("status %d over %v", res.StatusCode, res.TLS)
			}
		})
	}

	// Plain HTTP to the TLS port is no way around it.
	res, err := http.Get("http://" + addr + "/healthz")
	if err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS port")
		}
	}
}

func TestServeLimitFlagsRefused(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	for _, args := range [][]string{
		{"--tls-cert", certFile},
		{"--tls-key", keyFile},
		{"--tls-cert", keyFile, "--tls-key", certFile},
		{"--tls-cert", filepath.Join(t.TempDir(), "none.pem"), "--tls-key", keyFile},
		{"--read-header-timeout", "0s"},
		{"--read-timeout", "-1s"},
		{"--write-timeout", "0"},
		{"--idle-timeout", "0s"},
		{"--max-header-bytes", "100"},
		{"--rate-limit", "-1"},
		{"--rate-burst", "0"},
		{"--rate-limit", "fast"},
	} {
		db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, args...), func(string) string { return "" }, io.Discard, io.Discard)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
