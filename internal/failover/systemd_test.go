package failover

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refundry/refundry/internal/pgtest"
)

// TestSystemdUnit checks docs/deploy.md's unit with systemd-analyze
// verify, then runs its ExecStart with the environment its
// EnvironmentFile gives, as systemd would: the node answers /readyz, and
// stops within TimeoutStopSec of its KillSignal with status 0.
func TestSystemdUnit(t *testing.T) {
	analyze := lookTool(t, "systemd-analyze")
	db := pgtest.NewDatabase(t)
	bin := buildRefundry(t)
	doc := deployDoc(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", pgtest.Port(t))

	envPath := filepath.Join(dir, "refundry.env")
	env := replace(t, docBlock(t, doc, "/etc/refundry/refundry.env"), "REFUNDRY_ADDR=:8080", "REFUNDRY_ADDR="+addr)
	var vars []string
	sc := bufio.NewScanner(strings.NewReader(env))
	for sc.Scan() {
		line := sc.Text()
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			if k == "REFUNDRY_DB" {
				line = "REFUNDRY_DB=" + db
			}
			vars = append(vars, line)
		}
	}
	if err := os.WriteFile(envPath, []byte(strings.Join(vars, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	unit := replace(t, docBlock(t, doc, "/etc/systemd/system/refundry.service"),
		"/usr/local/bin/refundry", bin,
		"/etc/refundry/refundry.env", envPath)
	unitPath := filepath.Join(dir, "refundry.service")
	if err := os.WriteFile(unitPath, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	directives := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			directives[k] = v
		}
	}
	if directives["KillSignal"] != "SIGTERM" {
		t.Fatalf("KillSignal %q: the test sends SIGTERM", directives["KillSignal"])
	}
	stopWithin, err := time.ParseDuration(directives["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	argv := strings.Fields(directives["ExecStart"])
	cmd := exec.Command(argv[0], argv[1:]...)
	// systemd's environment: PATH and the file's variables, nothing of
	// the shell that runs the test.
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"}, vars...)
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logWriter{logs}, logWriter{logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, addr, func() string { return logs.tail(4000) })
	deadline := time.Now().Add(30 * time.Second)
	for get(t, "http://"+addr+"/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 30s:\n%s", logs.tail(4000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve stopped on SIGTERM with %v:\n%s", err, logs.tail(4000))
		}
	case <-time.After(stopWithin):
		t.Errorf("serve still runs %s after SIGTERM, when systemd would kill it", stopWithin)
	}
}
