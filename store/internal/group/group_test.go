package group

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDo checks that every write gets its own answer, that a batch is
// gathered when Gather asks for it, and that OnBatch hears its size.
func TestDo(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	var runs atomic.Int32
	b := New(func(_ context.Context, fns []func(*int) error) []error {
		runs.Add(1)
		errs := make([]error, len(fns))
		for i, fn := range fns {
			n := i
			errs[i] = fn(&n)
		}
		return errs
	}, Options{MaxBatch: 8, OnBatch: func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }})
	defer b.Close()

	b.Gather(5)
	fail := errors.New("mine")
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range 5 {
		wg.Go(func() {
			errs[i] = b.Do(context.Background(), func(*int) error {
				if i == 2 {
					return fail
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := error(nil); i == 2 {
			if !errors.Is(err, fail) {
				t.Errorf("write %d: err = %v, want its own failure", i, err)
			}
		} else if err != want {
			t.Errorf("write %d: err = %v, want nil", i, err)
		}
	}
	if runs.Load() != 1 {
		t.Errorf("runs = %d, want one batch", runs.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 1 || sizes[0] != 5 {
		t.Errorf("OnBatch sizes = %v, want [5]", sizes)
	}
}

// TestContexts: a Run sees the context each of its writes was queued
// with, in the order of its fns, so it can plan the batch before running
// it.
func TestContexts(t *testing.T) {
	type key struct{}
	var mu sync.Mutex
	var mismatch []string
	b := New(func(ctx context.Context, fns []func(string) error) []error {
		ctxs := Contexts(ctx)
		errs := make([]error, len(fns))
		for i, fn := range fns {
			if len(ctxs) != len(fns) {
				errs[i] = errors.New("no context for this write")
				continue
			}
			v, _ := ctxs[i].Value(key{}).(string)
			errs[i] = fn(v)
		}
		return errs
	}, Options{})
	defer b.Close()
	if Contexts(context.Background()) != nil {
		t.Errorf("Contexts outside a Run is not nil")
	}
	b.Gather(4)
	var wg sync.WaitGroup
	for i := range 4 {
		want := fmt.Sprint("write ", i)
		wg.Go(func() {
			err := b.Do(context.WithValue(context.Background(), key{}, want), func(got string) error {
				if got != want {
					mu.Lock()
					mismatch = append(mismatch, got+" != "+want)
					mu.Unlock()
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", want, err)
			}
		})
	}
	wg.Wait()
	if len(mismatch) > 0 {
		t.Errorf("a write saw another's context: %v", mismatch)
	}
}

func TestMaxBatch(t *testing.T) {
	var most atomic.Int32
	b := New(func(_ context.Context, fns []func(struct{}) error) []error {
		if n := int32(len(fns)); n > most.Load() {
			most.Store(n)
		}
		return make([]error, len(fns))
	}, Options{MaxBatch: 3})
	defer b.Close()
	b.Gather(10) // asks for more than the cap: the cap wins
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := b.Do(context.Background(), func(struct{}) error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() > 3 {
		t.Errorf("largest batch = %d, want at most 3", most.Load())
	}
}

func TestCanceledBeforeTaken(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	b := New(func(_ context.Context, fns []func(struct{}) error) []error {
		started <- struct{}{}
		<-release
		return make([]error, len(fns))
	}, Options{})
	defer b.Close()
	go b.Do(context.Background(), func(struct{}) error { return nil })
	<-started // the loop is busy with the first batch
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := b.Do(ctx, func(struct{}) error { ran = true; return nil })
	close(release)
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("err = %v, ran = %v; want context.Canceled and not run", err, ran)
	}
}

func TestClose(t *testing.T) {
	b := New(func(_ context.Context, fns []func(struct{}) error) []error { return make([]error, len(fns)) }, Options{})
	if err := b.Do(context.Background(), func(struct{}) error { return nil }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close() // twice is harmless
	if err := b.Do(context.Background(), func(struct{}) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v, want ErrClosed", err)
	}
}

// TestOnTake: each batch reports as it is taken how many writes it left
// waiting, so that a queue with more writes than one batch holds can be
// told from one that keeps up; a write whose caller gave up while
// waiting is no longer counted.
func TestOnTake(t *testing.T) {
	type take struct{ size, left int }
	var mu sync.Mutex
	var takes []take
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	b := New(func(_ context.Context, fns []func(int) error) []error {
		select {
		case started <- struct{}{}:
			<-release
		default:
		}
		return make([]error, len(fns))
	}, Options{MaxBatch: 4, OnTake: func(size, left int) { mu.Lock(); takes = append(takes, take{size, left}); mu.Unlock() }})
	defer b.Close()

	var wg sync.WaitGroup
	do := func(ctx context.Context) { wg.Go(func() { _ = b.Do(ctx, func(int) error { return nil }) }) }
	do(context.Background())
	<-started // the first batch runs, alone, until released
	for range 10 {
		do(context.Background())
	}
	gaveUp, cancel := context.WithCancel(context.Background())
	do(gaveUp)
	waitFor := func(n int64) {
		t.Helper()
		for b.waiting.Load() != n {
			runtime.Gosched()
		}
	}
	waitFor(11)
	cancel()
	waitFor(10)
	close(release)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	want := []take{{1, 0}, {4, 6}, {4, 2}, {2, 0}}
	if fmt.Sprint(takes) != fmt.Sprint(want) {
		t.Errorf("takes (size, left) = %v, want %v", takes, want)
	}
}

// TestLinger: a batch Linger tells to wait takes the writes that come
// within the wait, and runs as soon as it is full, without waiting out
// the rest; Linger hears what the batch before did.
func TestLinger(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	var prevs []Batch
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	lingering := make(chan struct{})
	b := New(func(_ context.Context, fns []func(int) error) []error {
		mu.Lock()
		sizes = append(sizes, len(fns))
		mu.Unlock()
		select {
		case started <- struct{}{}:
			<-release
		default:
		}
		return make([]error, len(fns))
	}, Options{MaxBatch: 4, Linger: func(size int, prev Batch) time.Duration {
		mu.Lock()
		prevs = append(prevs, prev)
		mu.Unlock()
		if prev.Size == 0 {
			return 0 // the first batch runs at once
		}
		close(lingering)
		return time.Hour // only a full batch ends this wait
	}})
	defer b.Close()

	var wg sync.WaitGroup
	do := func() { wg.Go(func() { _ = b.Do(context.Background(), func(int) error { return nil }) }) }
	do()
	<-started // the first batch runs, alone, until released
	do()
	for b.waiting.Load() != 1 {
		runtime.Gosched()
	}
	close(release)
	// The second batch holds one write and waits for three more, sent
	// only once it waits: sent earlier, they would fill it before Linger.
	<-lingering
	for range 3 {
		do()
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 4]" {
		t.Errorf("batch sizes = %v, want [1 4]", sizes)
	}
	if len(prevs) != 2 || prevs[0] != (Batch{}) || prevs[1].Size != 1 || prevs[1].Took <= 0 {
		t.Errorf("Linger heard %+v, want nothing, then the first batch of 1 and its time", prevs)
	}
}
