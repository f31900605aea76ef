package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// BenchmarkDurableCommit is the raw ceiling of SQLite on this disk, the
// figure docs/benchmarks.md sets beside refunds/s: a loop of one-row
// INSERT transactions with the store's own settings (WAL,
// synchronous=FULL), so each commit waits for its fsync. No store can
// acknowledge one durable commit at a time faster than this.
func BenchmarkDurableCommit(b *testing.B) {
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "ceiling.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, "refund"); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
