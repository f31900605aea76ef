package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects output written by one goroutine and read by another.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteLine(s string) { _, _ = b.Write([]byte(s + "\n")) }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// await returns the first submatch of re once the output holds it.
func (b *syncBuffer) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("output never matched %s:\n%s", re, b.String())
	return ""
}
