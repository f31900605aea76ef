package failover

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry/internal/pgtest"
)

// pgTools runs the PostgreSQL binaries of the machine under a temporary
// directory. Run as root, they run as the postgres user, which initdb
// and postgres require.
type pgTools struct {
	bindir string
	root   string // the temporary directory: data directories, sockets, logs
	cred   *syscall.Credential
}

// newPGTools finds the binaries (pg_config --bindir) and makes the
// temporary directory. Without them the test skips, or fails under CI.
func newPGTools(t *testing.T) *pgTools {
	t.Helper()
	pgtest.ServerURL(t) // skips without REFUNDRY_TEST_POSTGRES, as every PostgreSQL test does
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pg_config --bindir: %v: the PostgreSQL server binaries must be installed in CI", err)
		}
		t.Skipf("pg_config --bindir: %v", err)
	}
	p := &pgTools{bindir: strings.TrimSpace(string(out))}
	// Not t.TempDir: its directory is private to the user running the
	// test, and the servers run as postgres.
	p.root, err = os.MkdirTemp("", "refundry-failover-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.root) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the servers need the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// command is one of the binaries (or the program at an absolute path),
// run as the servers' user.
func (p *pgTools) command(name string, args ...string) *exec.Cmd {
	if !filepath.IsAbs(name) {
		name = filepath.Join(p.bindir, name)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = p.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

// run runs a binary to its end and fails the test if it fails.
func (p *pgTools) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, p.logs())
	}
}

// logs is the end of every server's log, for a failure message: pg_ctl
// only says to examine the log, which goes with the test's directory.
func (p *pgTools) logs() string {
	paths, _ := filepath.Glob(filepath.Join(p.root, "*.log"))
	var b strings.Builder
	for _, path := range paths {
		fmt.Fprintf(&b, "\n--- the end of %s:\n%s\n", filepath.Base(path), pgtest.LogTail(path, 40))
	}
	return b.String()
}

// shell runs a script of docs/deploy.md with sh -e, as the servers'
// user, the PostgreSQL binaries first on its PATH.
func (p *pgTools) shell(t *testing.T, script string, env []string) {
	t.Helper()
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir = p.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Env = append(append(os.Environ(), "PATH="+p.bindir+":"+os.Getenv("PATH")), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s\n→ %v\n%s%s", script, err, out, p.logs())
	}
}

// writeFile writes a file the servers' user owns.
func (p *pgTools) writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if p.cred != nil {
		if err := os.Chown(path, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

// pgServer is one PostgreSQL server: its data directory, its port, and
// its postmaster while it runs.
type pgServer struct {
	p    *pgTools
	name string // cluster_name: its name in synchronous_standby_names
	dir  string
	port int
	pid  int // the postmaster's, while it runs
}

// syncStandbys is synchronous_standby_names on every server: whichever
// of the two is the standby is the synchronous one.
const syncStandbys = "FIRST 1 (pg_a, pg_b)"

// server names a server of the cluster; nothing exists yet.
func (p *pgTools) server(t *testing.T, name string) *pgServer {
	return &pgServer{p: p, name: name, dir: filepath.Join(p.root, name), port: pgtest.Port(t)}
}

// initPrimary makes a new cluster (initdb) set up for streaming
// replication with a synchronous standby, and starts it. A standby
// whose primary is gone retries it every wal_retrieve_retry_interval,
// and a promotion asked for meanwhile waits for the retry: 5 s by
// default, 0.5 s here, as docs/deploy.md advises, which also has a new
// standby flush its copied files with one syncfs rather than a fsync
// of each.
func (s *pgServer) initPrimary(t *testing.T) {
	t.Helper()
	s.initdb(t, fmt.Sprintf(`
synchronous_commit = on
synchronous_standby_names = '%s'
wal_keep_size = '256MB'
wal_retrieve_retry_interval = '500ms'
recovery_init_sync_method = syncfs
`, syncStandbys))
	s.start(t)
}

// initdb makes a new cluster listening on loopback only, with conf added
// to its postgresql.conf.
func (s *pgServer) initdb(t *testing.T, conf string) {
	t.Helper()
	// --no-sync: the test kills processes, never the machine, so
	// initdb's own fsync would only cost time.
	s.p.run(t, "initdb", "--auth=trust", "--username=postgres", "--no-sync", "--pgdata="+s.dir)
	f, err := os.OpenFile(filepath.Join(s.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conf = fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nmax_connections = 100\n", s.p.root) + conf
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
}

// standbyOf makes s a new streaming standby of primary: its data
// directory, if any, is thrown away and copied again (pg_basebackup -R
// writes primary_conninfo and standby.signal), then s starts.
func (s *pgServer) standbyOf(t *testing.T, primary *pgServer) {
	t.Helper()
	if err := os.RemoveAll(s.dir); err != nil {
		t.Fatal(err)
	}
	s.p.run(t, "pg_basebackup", "--host=127.0.0.1", "--port="+strconv.Itoa(primary.port), "--username=postgres",
		"--pgdata="+s.dir, "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast")
	s.start(t)
}

// start starts the server with pg_ctl, waiting until it accepts
// connections. Its name is its cluster_name, which a standby's WAL
// receiver gives the primary as its application_name.
func (s *pgServer) start(t *testing.T) {
	t.Helper()
	s.p.run(t, "pg_ctl", "start", "--pgdata="+s.dir, "--wait", "--log="+filepath.Join(s.p.root, s.name+".log"),
		"--options=-p "+strconv.Itoa(s.port)+" -c cluster_name="+s.name)
	raw, err := os.ReadFile(filepath.Join(s.dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	s.pid, err = strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	t.Cleanup(func() { s.kill(t) })
}

// kill sends SIGKILL to the postmaster and every process it started,
// as the loss of its machine would: nothing is flushed, nobody is told.
// Killing the postmaster alone would not do: each backend is a session
// of its own (setsid), and one in the middle of a commit would finish
// it. The postmaster is stopped first, so that it forks nothing
// meanwhile. kill returns when the last process was sent SIGKILL (from
// then on nothing can commit there), once the server no longer answers.
func (s *pgServer) kill(t *testing.T) time.Time {
	if s.pid == 0 {
		return time.Now()
	}
	pid := s.pid
	s.pid = 0
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Errorf("%s: SIGSTOP %d: %v", s.name, pid, err)
	}
	for _, child := range children(t, pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("%s: SIGKILL %d: %v", s.name, pid, err)
	}
	killed := time.Now()
	deadline := killed.Add(30 * time.Second)
	for s.p.command("pg_isready", "--quiet", "--host=127.0.0.1", "--port="+strconv.Itoa(s.port)).Run() == nil {
		if time.Now().After(deadline) {
			t.Errorf("%s still answers 30s after kill -9", s.name)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return killed
}

// children lists the processes whose parent is pid (Linux's
// /proc/PID/task/PID/children: one read, however many processes the
// machine runs).
func children(t *testing.T, pid int) []int {
	p := strconv.Itoa(pid)
	raw, err := os.ReadFile(filepath.Join("/proc", p, "task", p, "children"))
	if err != nil {
		t.Errorf("the postmaster's children: %v", err)
	}
	var out []int
	for _, f := range strings.Fields(string(raw)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// promote ends the standby's recovery: pg_ctl promote, waiting until it
// takes writes.
func (s *pgServer) promote(t *testing.T) {
	t.Helper()
	s.p.run(t, "pg_ctl", "promote", "--pgdata="+s.dir, "--wait")
}

// url is the server's database name on it, for pgx.
func (s *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// psql runs commands on the server with psql, each in a transaction of
// its own, as docs/deploy.md gives them.
func (s *pgServer) psql(t *testing.T, commands ...string) {
	t.Helper()
	args := []string{"--host=127.0.0.1", "--port=" + strconv.Itoa(s.port), "--username=postgres", "--no-psqlrc", "--set=ON_ERROR_STOP=1"}
	for _, c := range commands {
		args = append(args, "--command="+c)
	}
	s.p.run(t, "psql", args...)
}

// query runs one query with psql and returns its one value.
func (s *pgServer) query(t *testing.T, sql string) string {
	t.Helper()
	out, err := s.p.command("psql", "--host=127.0.0.1", "--port="+strconv.Itoa(s.port), "--username=postgres", "--no-psqlrc",
		"--tuples-only", "--no-align", "--command="+sql).Output()
	if err != nil {
		t.Fatalf("%s: %s: %v", s.name, sql, err)
	}
	return strings.TrimSpace(string(out))
}

// waitSynchronous waits until standby is the primary's synchronous
// standby and has flushed all the WAL the primary had written when
// asked: from then on, what the primary acknowledged is on the standby.
func (s *pgServer) waitSynchronous(t *testing.T, standby *pgServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	defer conn.Close(ctx)
	var lsn string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	for {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_replication
			WHERE application_name = $1 AND sync_state = 'sync' AND flush_lsn >= $2::pg_lsn)`, standby.name, lsn).Scan(&ok)
		if err != nil {
			t.Fatalf("%s: pg_stat_replication: %v", s.name, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never became the synchronous standby of %s", standby.name, s.name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail is the end of a log, for a failure message.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.ToValidUTF8(b, nil))
}
