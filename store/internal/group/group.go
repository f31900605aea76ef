// Package group gathers concurrent writes into batches that a store commits
// in one durable transaction (group commit): one fsync, or one WAL flush on
// PostgreSQL, then makes many refunds durable instead of one.
//
// A Queue only queues, gathers and answers; the store decides how a
// batch runs (its transaction, a savepoint per write, retries). A write is
// answered only after the store's run function returns for its batch, that
// is after the COMMIT holding it returned (invariant 3 of DESIGN.md), and
// each write gets its own error, so one write's failure is its own.
package group

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed answers writes made after Close, and those still queued then.
var ErrClosed = errors.New("group: the store is closed")

// Run executes fns in one batch and returns one error per fn, in order.
// fns[i] succeeded, durably, iff the i-th error is nil.
type Run[T any] func(ctx context.Context, fns []func(T) error) []error

// RunWrites executes writes in one batch and returns one error per write,
// in order. writes[i] succeeded, durably, iff the i-th error is nil.
type RunWrites[W any] func(ctx context.Context, writes []W) []error

// Options tune a Queue.
type Options struct {
	// MaxBatch caps how many writes share one transaction; 0 means 128.
	MaxBatch int
	// OnBatch, if set, hears the size of every batch run (metrics). It is
	// called from the batcher's goroutine and must not block.
	OnBatch func(size int)
	// OnTake, if set, hears as each batch is taken its size and how many
	// writes were still waiting to be taken: a full batch that leaves
	// writes behind is a queue with more writes than it can commit in
	// batches of MaxBatch. It is called from the batcher's goroutine
	// before the batch runs and must not block.
	OnTake func(size, left int)
	// Linger, if set, is asked as each batch is taken, with the writes
	// taken and what the batch before did, how long the batch may wait
	// for more writes before it runs; 0 runs it at once. The wait ends
	// early when the batch is full. It is called from the batcher's
	// goroutine and must not block.
	Linger func(size int, prev Batch) time.Duration
}

// Batch is what a batch did: the writes it ran and how long its run
// took, commit included.
type Batch struct {
	Size int
	Took time.Duration
}

type job[W any] struct {
	ctx  context.Context
	w    W
	err  error
	done chan struct{}
}

// Batcher runs writes given as functions of T (a transaction) in
// batches: a Queue whose writes are closures.
type Batcher[T any] = Queue[func(T) error]

// New starts a batcher that hands batches of closures to run.
func New[T any](run Run[T], opts Options) *Batcher[T] {
	return NewQueue(RunWrites[func(T) error](run), opts)
}

// Queue runs writes in batches on one goroutine. A write is a value of
// W: a closure (Batcher), or data that the store's run function reads
// as a whole batch, so that it can write the batch set-based instead of
// write after write.
//
// Unless Linger says otherwise, it never waits to fill a batch: it takes
// whatever is queued when the previous commit returns ("commit while the
// next batch accumulates"). At low load a write runs at once, alone, with
// no added latency; under load the writes that arrive during one commit
// share the next.
type Queue[W any] struct {
	run  RunWrites[W]
	opts Options

	// queue is unbuffered: a write is either taken by the loop or still
	// with its caller, so after Close nothing can be stranded in a buffer.
	queue   chan *job[W]
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu     sync.Mutex
	gather int // see Gather

	// waiting counts the writes in Do not yet taken by the loop (OnTake):
	// Do adds one before it offers its write, and whoever ends the offer,
	// the loop taking it or Do giving up, takes it away.
	waiting atomic.Int64
}

// NewQueue starts a queue that hands batches of writes to run.
func NewQueue[W any](run RunWrites[W], opts Options) *Queue[W] {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 128
	}
	b := &Queue[W]{run: run, opts: opts, queue: make(chan *job[W]), closing: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// Do queues w, waits for the batch that holds it to commit, and returns
// w's own outcome. ctx bounds only the wait for a place in a batch: once
// w is in a batch that is running, Do waits for the commit, because the
// write may then already be durable and the caller must learn whether it
// is. w runs on the queue's goroutine and must not use ctx for its
// statements, or a caller hanging up would abort its neighbours' batch.
func (b *Queue[W]) Do(ctx context.Context, w W) error {
	j := &job[W]{ctx: ctx, w: w, done: make(chan struct{})}
	b.waiting.Add(1)
	select {
	case b.queue <- j:
	case <-b.closing:
		b.waiting.Add(-1)
		return ErrClosed
	case <-ctx.Done():
		b.waiting.Add(-1)
		return ctx.Err()
	}
	<-j.done
	return j.err
}

// Gather makes the next batch wait until it holds at least n writes. Tests
// use it to force chosen writes into one transaction.
func (b *Queue[W]) Gather(n int) {
	b.mu.Lock()
	b.gather = n
	b.mu.Unlock()
}

// Close stops taking writes, lets the running batch finish, and returns
// once the goroutine is gone. Writes not yet taken get ErrClosed.
func (b *Queue[W]) Close() {
	b.once.Do(func() { close(b.closing) })
	b.wg.Wait()
}

func (b *Queue[W]) loop() {
	defer b.wg.Done()
	// The batch's statements run under a context no caller can cancel:
	// the batch belongs to all its writes.
	ctx := context.Background()
	var batch []*job[W]
	var prev Batch
	for {
		batch = batch[:0]
		select {
		case j := <-b.queue:
			b.waiting.Add(-1)
			batch = append(batch, j)
		case <-b.closing:
			return
		}
		batch = b.fill(batch)
		if b.opts.Linger != nil && len(batch) < b.opts.MaxBatch {
			if d := b.opts.Linger(len(batch), prev); d > 0 {
				batch = b.linger(batch, d)
			}
		}
		if b.opts.OnTake != nil {
			b.opts.OnTake(len(batch), int(b.waiting.Load()))
		}
		// A write whose caller gave up before it was taken is dropped
		// here, never half-run: its caller has been told nothing yet.
		live := batch[:0]
		for _, j := range batch {
			if err := j.ctx.Err(); err != nil {
				j.err = err
				close(j.done)
				continue
			}
			live = append(live, j)
		}
		if len(live) == 0 {
			continue
		}
		writes := make([]W, len(live))
		for i, j := range live {
			writes[i] = j.w
		}
		start := time.Now()
		errs := b.run(withJobs(ctx, live), writes)
		prev = Batch{Size: len(live), Took: time.Since(start)}
		if b.opts.OnBatch != nil {
			b.opts.OnBatch(len(live))
		}
		// Answering after run returned is the durability promise: run
		// returns only after the COMMIT that holds these writes.
		for i, j := range live {
			j.err = errs[i]
			close(j.done)
		}
		clear(batch) // let the answered jobs go
	}
}

type jobsKey struct{}

// withJobs makes the contexts of a batch's writes reachable from the
// batch's own context, for Contexts.
func withJobs[W any](ctx context.Context, jobs []*job[W]) context.Context {
	ctxs := make([]context.Context, len(jobs))
	for i, j := range jobs {
		ctxs[i] = j.ctx
	}
	return context.WithValue(ctx, jobsKey{}, ctxs)
}

// Contexts returns, inside a Run, the contexts its writes were queued
// with by Do, in the order of the writes, or nil outside one. A store reads in
// them what each write's caller said of it (the rows it will lock, say)
// to plan the whole batch before running any write. Only their values
// are meant: a caller may have hung up, and the batch runs on regardless.
func Contexts(ctx context.Context) []context.Context {
	ctxs, _ := ctx.Value(jobsKey{}).([]context.Context)
	return ctxs
}

// linger adds to batch the writes that come within d, until it is full.
func (b *Queue[W]) linger(batch []*job[W], d time.Duration) []*job[W] {
	t := time.NewTimer(d)
	defer t.Stop()
	for len(batch) < b.opts.MaxBatch {
		select {
		case j := <-b.queue:
			b.waiting.Add(-1)
			batch = append(batch, j)
		case <-t.C:
			return batch
		case <-b.closing:
			return batch
		}
	}
	return batch
}

// fill adds to batch the writes already waiting, without waiting for more
// unless Gather asked for a minimum.
func (b *Queue[W]) fill(batch []*job[W]) []*job[W] {
	b.mu.Lock()
	want := b.gather
	b.gather = 0
	b.mu.Unlock()
	for len(batch) < b.opts.MaxBatch {
		if len(batch) < want {
			select {
			case j := <-b.queue:
				b.waiting.Add(-1)
				batch = append(batch, j)
				continue
			case <-b.closing:
				return batch
			}
		}
		select {
		case j := <-b.queue:
			b.waiting.Add(-1)
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}
