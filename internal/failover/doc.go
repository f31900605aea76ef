// Package failover holds the tests of Refundry beyond one machine, with
// real processes: two serve nodes on a PostgreSQL primary and its
// synchronous standby, the primary killed with -9 and the standby
// promoted, again and again, while clients refund (TestFailover); the
// HAProxy configuration docs/deploy.md gives, in front of two nodes; one
// node through PgBouncer in transaction mode; and the backup and restore
// docs/deploy.md describes.
//
// The PostgreSQL servers are made with the binaries on the machine
// (initdb, pg_basebackup, pg_ctl) under a temporary directory, on
// loopback ports of their own; the shared server named by
// REFUNDRY_TEST_POSTGRES is never stopped. The tests run wherever that
// variable is set, which CI always does.
package failover
