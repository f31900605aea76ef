package pgtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Helpers for tests that run PostgreSQL servers of their own (initdb,
// pg_ctl), which they stop and start again.

// portsFloor is the lowest port Port hands out: below it lie the ports
// that services commonly listen on.
const portsFloor = 10000

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // handed out in this process
)

// Port returns a loopback port that is free to bind, outside the
// kernel's ephemeral range, and not handed out before in this process.
// It is for a server the test stops and starts again on the same port,
// as a standby or a client's URL must keep finding it.
//
// A port the kernel chooses (listening on port 0) comes from the range
// it also takes the local ports of outgoing connections from: once the
// server is stopped, any connection made on the machine may be given
// it, and the server cannot bind it again ("Address already in use")
// for as long as that connection lives. Outside the range, only a
// program that asks for the port by its number can take it.
func Port(t testing.TB) int {
	t.Helper()
	from, to := freeSpan(ephemeralRange())
	portsMu.Lock()
	defer portsMu.Unlock()
	if from >= to {
		// The ephemeral range leaves no room: the kernel chooses.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	for range 200 {
		port := from + rand.IntN(to-from)
		if ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		_ = ln.Close()
		ports[port] = true
		return port
	}
	t.Fatalf("no free loopback port in [%d, %d) after 200 tries", from, to)
	return 0
}

// ephemeralRange is the range of local ports the kernel gives outgoing
// connections (Linux's ip_local_port_range), or, where that cannot be
// read, a range that holds both Linux's default (32768–60999) and the
// IANA one (49152–65535) most other systems use.
func ephemeralRange() (low, high int) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			low, err1 := strconv.Atoi(f[0])
			high, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && 0 < low && low <= high && high <= 65535 {
				return low, high
			}
		}
	}
	return 32768, 65535
}

// freeSpan is the larger of the spans of ports [from, to) below and
// above the ephemeral range [low, high], from portsFloor up.
func freeSpan(low, high int) (from, to int) {
	below := [2]int{portsFloor, max(low, portsFloor)}
	above := [2]int{max(high+1, portsFloor), 65536}
	if below[1]-below[0] >= above[1]-above[0] {
		return below[0], below[1]
	}
	return above[0], above[1]
}

// LogTail is the last n lines of the file at path (a server's log), for
// a failure message: the file goes with the test's temporary directory.
func LogTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	raw = bytes.TrimRight(raw, "\n")
	lines := bytes.Split(raw, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.ToValidUTF8(bytes.Join(lines, []byte("\n")), nil))
}
