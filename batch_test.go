package refundry_test

import (
	"testing"

	"github.com/refundry/refundry"
)

func TestBatchCounts(t *testing.T) {
	for _, tt := range []struct {
		name string
		rows map[string]int
		want refundry.BatchCounts
		st   string
	}{
		{"AllDone", map[string]int{refundry.BatchRowSucceeded: 3, refundry.BatchRowFailed: 1},
			refundry.BatchCounts{Succeeded: 3, Failed: 1}, refundry.BatchCompleted},
		{"Pending", map[string]int{refundry.BatchRowPending: 2, refundry.BatchRowSucceeded: 1},
			refundry.BatchCounts{Pending: 2, Succeeded: 1}, refundry.BatchProcessing},
		{"Processing", map[string]int{refundry.BatchRowProcessing: 1},
			refundry.BatchCounts{Processing: 1}, refundry.BatchProcessing},
		{"UnknownStatusNotCounted", map[string]int{"lost": 5},
			refundry.BatchCounts{}, refundry.BatchCompleted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c refundry.BatchCounts
			for st, n := range tt.rows {
				c.Add(st, n)
			}
			if c != tt.want || c.Status() != tt.st {
				t.Fatalf("counts %+v status %s, want %+v %s", c, c.Status(), tt.want, tt.st)
			}
		})
	}
}

// Moves of rows between statuses add up to the change of a batch's
// counts, and moves that end where they began change nothing.
func TestBatchCountsMove(t *testing.T) {
	var d refundry.BatchCounts
	d.Move(refundry.BatchRowPending, refundry.BatchRowProcessing)
	d.Move(refundry.BatchRowPending, refundry.BatchRowProcessing)
	d.Move(refundry.BatchRowProcessing, refundry.BatchRowSucceeded)
	d.Move(refundry.BatchRowSucceeded, refundry.BatchRowFailed)
	if want := (refundry.BatchCounts{Pending: -2, Processing: 1, Failed: 1}); d != want {
		t.Fatalf("moves = %+v, want %+v", d, want)
	}
	var z refundry.BatchCounts
	z.Move(refundry.BatchRowProcessing, refundry.BatchRowProcessing)
	z.Move(refundry.BatchRowFailed, refundry.BatchRowSucceeded)
	z.Move(refundry.BatchRowSucceeded, refundry.BatchRowFailed)
	if !z.Zero() || d.Zero() {
		t.Fatalf("Zero: %+v %v, %+v %v", z, z.Zero(), d, d.Zero())
	}
}

func TestBatchCountsKept(t *testing.T) {
	for _, tt := range []struct {
		name       string
		c          refundry.BatchCounts
		unfinished bool
		want       bool
	}{
		{"Running", refundry.BatchCounts{Total: 4, Pending: 1, Processing: 1, Succeeded: 1, Failed: 1}, true, true},
		{"Done", refundry.BatchCounts{Total: 4, Succeeded: 3, Failed: 1}, false, true},
		// A batch an older binary made: nothing kept.
		{"NothingKept", refundry.BatchCounts{Total: 4}, true, false},
		// Rows an older binary finished stay counted as unfinished.
		{"UnfinishedWithNoRowLeft", refundry.BatchCounts{Total: 4, Pending: 2, Succeeded: 2}, false, false},
		{"FinishedWithRowsLeft", refundry.BatchCounts{Total: 4, Succeeded: 4}, true, false},
		{"Negative", refundry.BatchCounts{Total: 2, Pending: 1, Processing: -1, Succeeded: 2}, false, false},
		{"SumOff", refundry.BatchCounts{Total: 4, Succeeded: 3}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Kept(tt.unfinished); got != tt.want {
				t.Fatalf("Kept(%+v, %v) = %v, want %v", tt.c, tt.unfinished, got, tt.want)
			}
		})
	}
}
