package failover

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBackupRestore runs docs/deploy.md's backups: WAL archiving as its
// postgresql.conf lines set it, a base backup with its pg_basebackup
// command, and its restore commands, as given, after the primary is
// killed. Refunds made before and after the base backup are all on the
// restored server, which takes refunds again.
func TestBackupRestore(t *testing.T) {
	p := newPGTools(t)
	doc := deployDoc(t)
	archive := filepath.Join(p.root, "wal-archive")
	backups := filepath.Join(p.root, "backups")
	for _, dir := range []string{archive, backups} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if p.cred != nil {
			if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The example's directories, moved under the test's.
	relocate := strings.NewReplacer("/var/lib/postgresql/wal-archive", archive, "/var/backups/refundry", backups).Replace

	primary := p.server(t, "pg_primary")
	primary.initdb(t, relocate(docBlock(t, doc, "archive_mode = on")))
	primary.start(t)
	primary.psql(t, "CREATE DATABASE refundry")
	bin := buildRefundry(t)
	key, _ := newMerchant(t, bin, primary.url("refundry"), "backed-up")
	n := startNode(t, bin, "node", "--db", primary.url("refundry"))
	c := newAPI(key)
	sale := c.newSale(t, n.base, 1_000_000, "pay-backed-up")
	refundAll(t, c, n.base, sale, 50, 8)

	p.shell(t, relocate(replace(t, docBlock(t, doc, "pg_basebackup --host=db1 --username=postgres --pgdata=/var/backups/"),
		"--host=db1", "--host=127.0.0.1 --port="+strconv.Itoa(primary.port))), nil)
	refundAll(t, c, n.base, sale, 50, 8)
	// The segment holding the last refunds is archived when full or
	// after archive_timeout; the test does not wait for either.
	primary.psql(t, "SELECT pg_switch_wal()")
	waitArchived(t, primary, archive)
	n.stop()
	primary.kill(t)

	base, err := filepath.Glob(filepath.Join(backups, "base-*"))
	if err != nil || len(base) != 1 {
		t.Fatalf("base backups: %v %v", base, err)
	}
	restored := p.server(t, "pg_restored")
	script := relocate(replace(t, docBlock(t, doc, `mkdir -m 0700 "$PGDATA"`),
		"/var/backups/refundry/base-DATE", base[0],
		`pg_ctl start --pgdata="$PGDATA" --wait`, fmt.Sprintf(`pg_ctl start --pgdata="$PGDATA" --wait --log=%s/pg_restored.log --options="-p %d"`, p.root, restored.port)))
	p.shell(t, script, []string{"PGDATA=" + restored.dir})
	raw, err := os.ReadFile(filepath.Join(restored.dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	restored.pid, _ = strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	t.Cleanup(func() { restored.kill(t) })

	// Recovery replays the archive to its end and then takes writes.
	deadline := time.Now().Add(60 * time.Second)
	for restored.query(t, "SELECT pg_is_in_recovery()") != "f" {
		if time.Now().After(deadline) {
			t.Fatal("the restored server is still in recovery after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	n = startNode(t, bin, "node", "--db", restored.url("refundry"))
	if got := num(c.must(t, "GET", n.base+"/v1/sales/"+sale, "")["refunded_amount"]); got != 100 {
		t.Errorf("the restored sale is refunded %d, want the 100 refunded before the kill", got)
	}
	refundAll(t, c, n.base, sale, 5, 1)
}

// waitArchived waits until the archive holds the WAL segment the server
// last finished.
func waitArchived(t *testing.T, s *pgServer, archive string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		current := s.query(t, "SELECT pg_walfile_name(pg_current_wal_lsn())")
		last := s.query(t, "SELECT last_archived_wal FROM pg_stat_archiver")
		// Segment names sort in WAL order; the one being written is
		// after every one finished.
		if last != "" && last >= previousSegment(current) {
			if _, err := os.Stat(filepath.Join(archive, last)); err != nil {
				t.Fatalf("pg_stat_archiver says %s is archived, the archive does not hold it: %v", last, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL not archived in 30s: last archived %q, current %q", last, current)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// previousSegment names the WAL segment before name (timeline, log,
// segment: 8 hex digits each; 256 segments of 16 MB to a log).
func previousSegment(name string) string {
	tli, log, seg := name[:8], name[8:16], name[16:]
	l, _ := strconv.ParseUint(log, 16, 32)
	sg, _ := strconv.ParseUint(seg, 16, 32)
	if sg == 0 {
		l, sg = l-1, 0xFF
	} else {
		sg--
	}
	return fmt.Sprintf("%s%08X%08X", tli, l, sg)
}
