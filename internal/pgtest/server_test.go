package pgtest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestFreeSpan(t *testing.T) {
	for _, tc := range []struct {
		name             string
		low, high        int
		wantFrom, wantTo int
	}{
		{"LinuxDefault", 32768, 60999, 10000, 32768},
		{"IANA", 49152, 65535, 10000, 49152},
		{"LowRange", 1024, 20000, 20001, 65536},
		{"RangeBelowFloor", 2000, 5000, 10000, 65536},
		{"WholeRange", 1024, 65535, 10000, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := freeSpan(tc.low, tc.high)
			if from != tc.wantFrom || to != tc.wantTo {
				t.Errorf("freeSpan(%d, %d) = [%d, %d), want [%d, %d)", tc.low, tc.high, from, to, tc.wantFrom, tc.wantTo)
			}
		})
	}
}

// Port hands out ports outside the ephemeral range, free to bind, never
// the same twice.
func TestPort(t *testing.T) {
	low, high := ephemeralRange()
	seen := map[int]bool{}
	for range 20 {
		port := Port(t)
		if from, to := freeSpan(low, high); from < to && (port >= low && port <= high) {
			t.Errorf("port %d is in the ephemeral range [%d, %d]", port, low, high)
		}
		if seen[port] {
			t.Errorf("port %d handed out twice", port)
		}
		seen[port] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Errorf("port %d: %v", port, err)
			continue
		}
		ln.Close()
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		n             int
		want          string
	}{
		{"Short", "a\nb\n", 40, "a\nb"},
		{"LastLines", "a\nb\nc\nd\n", 2, "c\nd"},
		{"NoFinalNewline", "a\nb\nc", 2, "b\nc"},
		{"Empty", "", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := LogTail(path, tc.n); got != tc.want {
				t.Errorf("LogTail(%q, %d) = %q, want %q", tc.content, tc.n, got, tc.want)
			}
		})
	}
	if got := LogTail(filepath.Join(dir, "missing"), 3); got == "" {
		t.Error("LogTail of a missing file is empty, want the error")
	}
}
