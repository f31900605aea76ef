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
