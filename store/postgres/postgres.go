// Package postgres implements refundry.Store on PostgreSQL with pgx.
//
// Every write is one transaction run by Store.write, which retries
// serialization failures and deadlocks with capped exponential backoff, so
// the store is correct at READ COMMITTED (PostgreSQL's default) and at
// SERIALIZABLE (CockroachDB's default) alike. Nothing on the hot path uses
// a PostgreSQL-only feature; docs/storage.md says what was checked.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/internal/group"
)

var _ refundry.Store = (*Store)(nil)

// Store is a refundry.Store backed by a PostgreSQL connection pool.
type Store struct {
	pool *pgxpool.Pool

	// standby is a small pool on the same hosts that prefers a standby,
	// opened only when --db names several: reads fall back to it while no
	// primary answers (see reads), since the synchronous standby holds
	// every committed row. Writes never use it.
	standby *pgxpool.Pool

	// statements counts what the pool sends (Statements).
	statements *statementCounter

	// Now is the clock for every timestamp the store assigns; tests replace
	// it. Times are stored in UTC at microsecond precision, what timestamptz
	// keeps, so a value read back equals the value written.
	Now func() time.Time

	// The retry policy; tests shorten it.
	attempts    int
	backoffBase time.Duration
	backoffCap  time.Duration

	// lanes gather CreateRefunds and SettleRefund into shared
	// transactions (group commit), each lane on a connection of its own,
	// so that one lane's round trips and WAL flush overlap another's;
	// a write goes to the lane of its sale (see lane). batch is lanes[0],
	// where writes of no sale go. Both are nil when group commit is off.
	// Of the lanes, the first lanesInUse are in use: as many as the load
	// opened (grown), up to the store's share of them among the nodes on
	// the database (see lanes.go), or all of them when fixedLanes
	// (WithGroupCommitLanes).
	lanes      []*group.Queue[*write]
	laneConns  []*laneConn // each lane's connection, kept between batches
	batch      *group.Queue[*write]
	share      atomic.Int32
	grown      atomic.Int32
	fixedLanes bool
	maxBatch   int

	// The load of the lanes in the current interval (tookBatch), and the
	// stop of the loop that sizes the lanes by it (adaptLanes).
	load struct {
		batches, full, writes atomic.Int64
	}
	stopAdapt context.CancelFunc
	adaptDone chan struct{}

	// The store's beat in live_nodes (lanes.go): its row's id, how often
	// it beats, how long a silent node is still counted, the nodes it
	// counted last, and the stop of the loop.
	nodeID       string
	beat, window time.Duration
	liveNodes    atomic.Int32
	stopBeat     context.CancelFunc
	beatDone     chan struct{}

	// refundSales spares a settlement the query for its refund's sale.
	refundSales refundSales

	retries       atomic.Int64
	serialization atomic.Int64
	deadlocks     atomic.Int64
	exhausted     atomic.Int64
	serialBatches atomic.Int64

	// ratePruned is the minute (Unix) in which this node last dropped old
	// rate-limit windows.
	ratePruned atomic.Int64
}

// Stats counts what the retry loop did since Open.
type Stats struct {
	// Retries is the number of transactions rolled back and run again
	// after a serialization failure, a deadlock or a lost race.
	Retries int64
	// SerializationFailures and Deadlocks count the attempts the database
	// aborted with SQLSTATE 40001 and 40P01, retried or not.
	SerializationFailures int64
	Deadlocks             int64
	// Exhausted is the number of writes that gave up and returned
	// EUNAVAILABLE because every attempt failed that way.
	Exhausted int64
	// SerialBatches counts the group-commit batches that failed before
	// COMMIT with an error no write could be blamed for, so that their
	// writes ran again, each alone (see runBatch).
	SerialBatches int64
}

// Stats returns the retry counters, for metrics and tests.
func (s *Store) Stats() Stats {
	return Stats{
		Retries:               s.retries.Load(),
		SerializationFailures: s.serialization.Load(),
		Deadlocks:             s.deadlocks.Load(),
		Exhausted:             s.exhausted.Load(),
		SerialBatches:         s.serialBatches.Load(),
	}
}

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN, with pgxpool's pool_* settings), applies any pending migrations and
// returns the store. Runtime parameters in the URL reach every connection;
// default_transaction_isolation=serializable runs every write at
// SERIALIZABLE, which the retry loop handles.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{groupCommit: true}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "Invalid PostgreSQL URL: %v", err)
	}
	if !strings.Contains(url, "connect_timeout") {
		// Without a bound, a host of a multi-host --db that drops packets
		// (a machine gone, not a process) would hold each new connection,
		// and the request waiting for it, for minutes before pgx tried
		// the next host.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// A primary whose machine died (no process left to reset the
	// connection) is noticed by TCP keepalive within about 11 seconds of
	// silence, even mid-query, instead of the kernel's many minutes of
	// retransmissions: the request gets 503, and the pool connects anew.
	cfg.ConnConfig.DialFunc = (&net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3,
	}}).DialContext
	// An idle connection is pinged before use (pgxpool does so after a
	// second idle); to a host gone silent, the ping gives up after this
	// and the connection is replaced instead of hanging the request.
	cfg.PingTimeout = defaultConnectTimeout
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on a small machine) would leave the
		// group-commit lanes and the reads of every request queueing for
		// the same few connections.
		cfg.MaxConns = defaultMaxConns
	}
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate(err)
	}
	if err := checkDurable(ctx, pool, o.asyncCommitAllowed, o.onAsyncCommit); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, statements: counter, Now: time.Now, attempts: maxAttempts, backoffBase: retryBase, backoffCap: retryCap}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if len(cfg.ConnConfig.Fallbacks) > 0 {
		// pgxpool connects lazily: while the primary answers, this pool
		// holds no connection at all.
		s.standby, err = pgxpool.NewWithConfig(ctx, standbyConfig(cfg))
		if err != nil {
			pool.Close()
			return nil, translate(err)
		}
	}
	s.liveNodes.Store(1)
	if o.groupCommit {
		n := o.lanes
		if n <= 0 {
			n = min(max(int(cfg.MaxConns)/4, 1), maxLanes)
		}
		s.fixedLanes = o.lanes > 0
		s.maxBatch = maxBatch
		if o.maxBatch > 0 {
			s.maxBatch = o.maxBatch
		}
		for range n {
			lc := &laneConn{}
			s.laneConns = append(s.laneConns, lc)
			run := func(ctx context.Context, ws []*write) []error {
				return s.runBatch(context.WithValue(ctx, laneKey{}, lc), ws)
			}
			s.lanes = append(s.lanes, group.NewQueue(run, group.Options{MaxBatch: s.maxBatch, OnBatch: o.onBatch, OnTake: s.tookBatch, Linger: s.linger}))
		}
		s.batch = s.lanes[0]
		s.share.Store(int32(n))
		s.grown.Store(int32(n))
		if !s.fixedLanes {
			// The load opens the lanes past the first (adaptLanes).
			s.grown.Store(1)
			every := o.laneEvery
			if every <= 0 {
				every = laneEvery
			}
			s.adaptLanes(every)
		}
		beat, window := o.beat, o.window
		if beat <= 0 {
			beat, window = nodeBeat, nodeWindow
		}
		s.startBeating(ctx, beat, window)
	}
	return s, nil
}

// standbyConfig is cfg for the pool reads fall back to: the same hosts,
// any of them, a standby first (target_session_attrs=prefer-standby).
func standbyConfig(cfg *pgxpool.Config) *pgxpool.Config {
	c := cfg.Copy()
	c.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsPreferStandby
	// A hot standby refuses SERIALIZABLE; the reads that fall back run at
	// REPEATABLE READ or as single statements, which see one snapshot.
	delete(c.ConnConfig.RuntimeParams, "default_transaction_isolation")
	c.MaxConns = standbyMaxConns
	c.MinConns = 0
	return c
}

// standbyMaxConns is the size of the fallback pool: enough for the reads
// of an outage, few enough to leave the standby's connections to others.
const standbyMaxConns = 4

// defaultConnectTimeout bounds a connection attempt to one host unless the
// URL sets connect_timeout, and a ping of an idle connection.
const defaultConnectTimeout = 5 * time.Second

// defaultMaxConns is the pool's size unless the URL sets pool_max_conns.
// PostgreSQL's default max_connections is 100, so two or three servers
// fit beside the usual tools.
const defaultMaxConns = 16

// maxLanes caps the group-commit lanes a pool's size gives (a quarter of
// its connections), the lanes meant for the whole database: past a few,
// batches only get smaller and the lanes compete for the server's CPU.
// The nodes on the database divide them among themselves (lanes.go).
const maxLanes = 4

// Option configures Open.
type Option func(*options)

type options struct {
	groupCommit        bool
	lanes              int
	onBatch            func(size int)
	asyncCommitAllowed bool
	onAsyncCommit      func(risk error)
	// How often the store beats in live_nodes and how long a silent
	// node is counted (nodeBeat, nodeWindow); tests shorten them.
	beat, window time.Duration
	// How often the lanes in use are sized by the load (laneEvery) and
	// the most writes a batch holds (maxBatch); tests shrink them to
	// fill batches at will.
	laneEvery time.Duration
	maxBatch  int
}

// WithGroupCommit turns group commit on (the default) or off. On,
// concurrent refunds and settlements share one transaction and one WAL
// flush, each still answered only once that commit is durable; off, each
// is a transaction of its own.
func WithGroupCommit(on bool) Option { return func(o *options) { o.groupCommit = on } }

// WithGroupCommitLanes sets how many group-commit batches may run at once,
// each on a connection of its own, whatever other nodes share the
// database. Without it, the lanes meant for the database are a quarter of
// the pool's connections, at least 1 and at most 4, and a node runs its
// share of them: that many divided by the live nodes, at least 1. Writes
// to one sale share a lane while the lanes in use stay the same, so the
// lanes seldom wait on each other's sale locks.
func WithGroupCommitLanes(n int) Option { return func(o *options) { o.lanes = n } }

// WithBatchObserver has fn hear the size of every group-commit batch
// (metrics). fn runs on the lanes' goroutines, several at once, and must
// not block.
func WithBatchObserver(fn func(size int)) Option { return func(o *options) { o.onBatch = fn } }

// WithAsyncCommitAllowed lets Open go on where commits are not durable
// when they return (see ErrAsyncCommit), which it otherwise refuses. warn,
// if not nil, hears why they are not, for the operator's log.
func WithAsyncCommitAllowed(warn func(risk error)) Option {
	return func(o *options) { o.asyncCommitAllowed, o.onAsyncCommit = true, warn }
}

// ErrAsyncCommit is why Open refuses a database whose commits return
// before they are durable: synchronous_commit off (the commit is not yet
// flushed to the WAL), or local while synchronous_standby_names names a
// standby (a failover can lose it). Either way a refund answered 2xx can
// be lost, against invariant 3.
var ErrAsyncCommit = errors.New("postgres: commits are not durable when they return")

// checkDurable reads the settings a commit of the pool's sessions runs
// under, as the server, the database, the role and the URL together make
// them, and refuses (ErrAsyncCommit) unless allowed.
//
// Invariant 3: a refund is acknowledged once its COMMIT returns, so the
// COMMIT must return only once the refund is as durable as the operator
// set PostgreSQL up to make it: flushed to the WAL, and on the synchronous
// standby if there is one.
func checkDurable(ctx context.Context, pool *pgxpool.Pool, allowed bool, warn func(error)) error {
	var commit, standbys string
	err := pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('synchronous_standby_names')`).Scan(&commit, &standbys)
	if err != nil {
		return translate(err)
	}
	msg := asyncCommitRisk(commit, standbys)
	if msg == "" {
		return nil
	}
	risk := fmt.Errorf("%w: %s", ErrAsyncCommit, msg)
	if !allowed {
		return risk
	}
	if warn != nil {
		warn(risk)
	}
	return nil
}

// asyncCommitRisk says how a commit under these settings can be lost
// once it returned, or "" if it cannot.
func asyncCommitRisk(commit, standbys string) string {
	var msg string
	switch {
	case commit == "off":
		msg = "synchronous_commit is off: a commit returns before it is flushed to the WAL, so a refund answered 2xx can be lost if PostgreSQL or its machine crashes"
	case commit == "local" && strings.TrimSpace(standbys) != "":
		msg = "synchronous_commit is local while synchronous_standby_names is set: a commit returns before the synchronous standby has it, so a refund answered 2xx can be lost in a failover"
	default:
		return ""
	}
	return msg + "; set synchronous_commit to on (in postgresql.conf, or ALTER DATABASE or ALTER ROLE ... SET synchronous_commit = on)"
}

// Close stops group commit, letting the batch in flight commit, then waits
// for connections in use to be returned and closes the pool.
func (s *Store) Close() error {
	for _, l := range s.lanes {
		l.Close()
	}
	for _, lc := range s.laneConns {
		lc.close()
	}
	s.stopAdapting()
	s.stopBeating()
	s.leave()
	s.pool.Close()
	if s.standby != nil {
		s.standby.Close()
	}
	return nil
}

// now is the store's clock in the precision and zone that round-trip.
func (s *Store) now() time.Time { return normTime(s.Now()) }

func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Retry policy. Backoff doubles from retryBase up to retryCap, with full
// jitter so that the losers of one conflict do not collide again in step.
// Forty attempts cover a burst of several dozen writers on one sale at
// SERIALIZABLE, where each round lets only one of them commit.
const (
	maxAttempts = 40
	retryBase   = time.Millisecond
	retryCap    = 100 * time.Millisecond
)

// errRetry makes write roll back and run the transaction again: a check
// found that a concurrent transaction won a race the database did not
// report as a serialization failure.
var errRetry = errors.New("postgres: lost a race with a concurrent transaction")

// write runs fn in a transaction at the session's default isolation and
// commits, running it again from the start on a retryable failure. fn must
// be safe to run more than once: it may only change the caller's values
// after write returns nil.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.retry(ctx, pgx.TxOptions{}, fn)
}

// read runs fn in a read-only transaction that sees one snapshot, so that a
// sale read in several statements is never half before and half after a
// refund.
// While no primary answers, the first failed attempt moves the read to the
// standby pool, if there is one, for this and every later attempt.
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	pool := s.pool
	return s.loop(ctx, func() error {
		err := s.attemptOn(ctx, pool, opts, fn)
		if pool == s.pool && s.standby != nil && primaryGone(ctx, err) {
			pool = s.standby
			err = s.attemptOn(ctx, pool, opts, fn)
		}
		return err
	})
}

func (s *Store) retry(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	return s.loop(ctx, func() error { return s.attempt(ctx, opts, fn) })
}

// loop runs attempt until it succeeds or fails in a way that running it
// again cannot mend: the retry policy of every write.
func (s *Store) loop(ctx context.Context, try func() error) error {
	for attempt := 0; ; attempt++ {
		err := try()
		if err == nil || !retryable(err) {
			return translate(err)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "40001" {
			s.serialization.Add(1)
		} else if errors.As(err, &pe) && pe.Code == "40P01" {
			s.deadlocks.Add(1)
		}
		if attempt+1 >= s.attempts {
			s.exhausted.Add(1)
			return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is busy; try again.", Err: err}
		}
		s.retries.Add(1)
		backoff := min(s.backoffCap, s.backoffBase<<min(attempt, 16))
		t := time.NewTimer(rand.N(backoff) + time.Duration(1))
		select {
		case <-ctx.Done():
			t.Stop()
			return &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The request was canceled.", Err: ctx.Err()}
		case <-t.C:
		}
	}
}

func (s *Store) attempt(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	return s.attemptOn(ctx, s.pool, opts, fn)
}

func (s *Store) attemptOn(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	// Rollback after a successful Commit is a no-op; after a failure it
	// returns the connection to the pool in a clean state.
	defer tx.Rollback(context.WithoutCancel(ctx))
	err = fn(tx)
	if err == nil {
		// Invariant 3: Commit is the durable acknowledgement. With
		// synchronous_commit on (PostgreSQL's default, which Open
		// checks) it returns only once the commit record is flushed to
		// WAL, and on the synchronous standby when there is one.
		err = tx.Commit(ctx)
	}
	if readOnly(err) {
		// The server turned standby (an old primary back after a
		// failover) or was set read-only: a connection to it will never
		// write again. Closed, it leaves the pool, and the next one is
		// made to whichever host of --db takes writes now
		// (target_session_attrs=read-write).
		_ = tx.Conn().Close(context.WithoutCancel(ctx))
	}
	return err
}

// readOnly reports whether the server refused a write because it is a
// standby or read-only (SQLSTATE 25006).
func readOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "25006"
}

// retryable reports whether running the whole transaction again may
// succeed: the database aborted it to keep transactions serializable or to
// break a deadlock, or the statement never reached the server.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return pgconn.SafeToRetry(err)
}
