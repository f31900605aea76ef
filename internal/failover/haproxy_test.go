package failover

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundry/refundry/internal/pgtest"
)

// TestHAProxyConfig runs HAProxy with the configuration docs/deploy.md
// gives, in front of two nodes on one database: requests through it
// reach both nodes, and once one node is killed every request is still
// answered 2xx, sent to the other.
func TestHAProxyConfig(t *testing.T) {
	haproxy := lookTool(t, "haproxy")
	db := pgtest.NewDatabase(t)
	bin := buildRefundry(t)
	key, _ := newMerchant(t, bin, db, "balanced")
	n1 := startNode(t, bin, "node1", "--db", db)
	n2 := startNode(t, bin, "node2", "--db", db)

	front := fmt.Sprintf("127.0.0.1:%d", pgtest.Port(t))
	cfg := replace(t, docBlock(t, deployDoc(t), "/etc/haproxy/haproxy.cfg"),
		"bind :80", "bind "+front,
		"10.0.0.11:8080", strings.TrimPrefix(n1.base, "http://"),
		"10.0.0.12:8080", strings.TrimPrefix(n2.base, "http://"))
	if os.Geteuid() != 0 {
		// Only root may change user; the rest of the file is as given.
		cfg = replace(t, cfg, "    user haproxy\n", "", "    group haproxy\n", "")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logWriter{logs}, logWriter{logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, front, func() string { return logs.tail(4000) })
	base := "http://" + front

	c := newAPI(key)
	sale := c.newSale(t, base, 1_000_000, "pay-balanced")
	refundAll(t, c, base, sale, 40, 8)
	for _, n := range []*node{n1, n2} {
		if got := n.logs.count("path=/v1/refunds"); got == 0 {
			t.Errorf("%s answered no refund: HAProxy did not balance", n.name)
		}
	}

	// A node gone: its connections are refused, and each request is sent
	// to the other node (retry-on conn-failure, redispatch) until the
	// health check takes it out.
	n1.stop()
	refundAll(t, c, base, sale, 40, 8)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.tail(100000), "node1 is DOWN") {
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy did not mark node1 down in 10s:\n%s", logs.tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	refundAll(t, c, base, sale, 20, 8)
	if got := num(c.must(t, "GET", base+"/v1/sales/"+sale, "")["refunded_amount"]); got != 100 {
		t.Errorf("sale refunded %d through HAProxy, want 100", got)
	}
	if got := get(t, base+"/readyz"); got != 200 {
		t.Errorf("/readyz through HAProxy: %d", got)
	}
}

// logWriter feeds a process's output to a logBuffer, line by line.
type logWriter struct{ l *logBuffer }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.l.add(line)
	}
	return len(p), nil
}
