package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundry/refundry/internal/testenv"
)

func TestDebugListener(t *testing.T) {
	addr, stop, err := startDebug("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, tc := range []struct {
		path string
		want int
		body string
	}{
		{"/debug/pprof/", 200, "goroutine"},
		{"/debug/pprof/cmdline", 200, ""},
		{"/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"/v1/refunds", 404, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, err := http.Get("http://" + addr + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
				t.Fatalf("GET %s = %d %.200q, want %d with %q", tc.path, res.StatusCode, b, tc.want, tc.body)
			}
		})
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("the debug listener still answers after stop")
	}
}

// The profiles must never reach the public listener. net/http/pprof's
// init puts them on http.DefaultServeMux, which serve never uses.
func TestDebugNotOnPublicListener(t *testing.T) {
	env := testenv.New(t)
	srv := httptest.NewServer(newServer(env.Engine, env.Logger, mustOps(t, env.Store, env.Engine)))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 || strings.Contains(string(b), "goroutine") {
			t.Errorf("public GET %s = %d %.200q", path, res.StatusCode, b)
		}
	}
}
