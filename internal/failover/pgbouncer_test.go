package failover

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry/internal/pgtest"
)

// TestPgBouncer runs one node through PgBouncer in transaction mode, with
// the pgbouncer.ini and the --db settings docs/deploy.md gives: its
// migrations, a merchant, and refunds from 32 clients at once, every one
// answered 201 and counted once.
func TestPgBouncer(t *testing.T) {
	pgbouncer := lookTool(t, "pgbouncer")
	p := newPGTools(t)
	server, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port := pgtest.Port(t)
	doc := deployDoc(t)
	userlist := filepath.Join(p.root, "userlist.txt")
	ini := replace(t, docBlock(t, doc, "/etc/pgbouncer/pgbouncer.ini"),
		"host=10.0.0.21 port=5432 dbname=refundry", fmt.Sprintf("host=%s port=%s dbname=%s", server.Hostname(), server.Port(), server.Path[1:]),
		"listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1",
		"listen_port = 6432", fmt.Sprintf("listen_port = %d", port),
		"/etc/pgbouncer/userlist.txt", userlist)
	ini += "unix_socket_dir = " + p.root + "\n"
	iniPath := filepath.Join(p.root, "pgbouncer.ini")
	p.writeFile(t, iniPath, ini)
	// The test server trusts its local users; PgBouncer still asks the
	// client for this password, by SCRAM, as the example does.
	p.writeFile(t, userlist, `"postgres" "bouncer-secret"`+"\n")
	cmd := p.command(pgbouncer, iniPath)
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logWriter{logs}, logWriter{logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port), func() string { return logs.tail(4000) })

	// The node's --db, as the example gives it.
	db := replace(t, docBlock(t, doc, "REFUNDRY_DB=postgres://refundry:SECRET@pgbouncer:6432/"),
		"REFUNDRY_DB=", "",
		"refundry:SECRET@pgbouncer:6432", fmt.Sprintf("postgres:bouncer-secret@127.0.0.1:%d", port),
		"\n", "")
	db += "&sslmode=disable"
	bin := buildRefundry(t)
	key, _ := newMerchant(t, bin, db, "bounced")
	n := startNode(t, bin, "node", "--db", db)
	c := newAPI(key)
	sale := c.newSale(t, n.base, 1_000_000, "pay-bounced")
	refundAll(t, c, n.base, sale, 300, 32)
	if got := num(c.must(t, "GET", n.base+"/v1/sales/"+sale, "")["refunded_amount"]); got != 300 {
		t.Errorf("sale refunded %d through PgBouncer, want 300", got)
	}
	if got := get(t, n.base+"/readyz"); got != 200 {
		t.Errorf("/readyz through PgBouncer: %d\n%s", got, n.logs.tail(2000))
	}
	if got := n.logs.count("level=ERROR"); got != 0 {
		t.Errorf("the node logged %d errors:\n%s", got, n.logs.tail(4000))
	}
}
