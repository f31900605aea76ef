package refundry_test

import (
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestRecoveryBackoff(t *testing.T) {
	for _, tt := range []struct {
		attempts int
		want     time.Duration
	}{
		{-1, 2 * time.Second},
		{0, 2 * time.Second},
		{1, 4 * time.Second},
		{5, 64 * time.Second},
		{8, 512 * time.Second},
		{9, 10 * time.Minute},
		{63, 10 * time.Minute},
		{1 << 30, 10 * time.Minute},
	} {
		if got := refundry.RecoveryBackoff(tt.attempts); got != tt.want {
			t.Errorf("RecoveryBackoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func TestRecoveryClaimShare(t *testing.T) {
	for _, tt := range []struct{ limit, merchants, want int }{
		{500, 0, 0},
		{500, 1, 500},
		{500, 2, 250},
		{500, 3, 167},
		{500, 500, 1},
		{0, 3, 0},
	} {
		if got := (refundry.RecoveryClaim{Limit: tt.limit}).Share(tt.merchants); got != tt.want {
			t.Errorf("Share(%d) of %d = %d, want %d", tt.merchants, tt.limit, got, tt.want)
		}
	}
}

func TestRecoveryClaimMerchants(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := map[string]time.Time{"late": t0.Add(time.Hour), "b": t0, "a": t0, "early": t0.Add(-time.Minute)}
	for _, tt := range []struct {
		name  string
		limit int
		want  []string
	}{
		{"LongestWaitingFirst", 10, []string{"early", "a", "b"}},
		{"AtMostLimit", 2, []string{"early", "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := refundry.RecoveryClaim{Due: t0, Limit: tt.limit}.Merchants(first)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Merchants = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecoveryClaimPlan(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := func(m, id string, attempts int) refundry.DueRefund {
		return refundry.DueRefund{MerchantID: m, ID: id, Attempts: attempts}
	}
	lists := [][]refundry.DueRefund{
		{due("a", "a1", 0), due("a", "a2", 3), due("a", "a3", 0)},
		{due("b", "b1", 1)},
	}
	for _, tt := range []struct {
		name  string
		limit int
		want  []string
	}{
		{"RoundRobin", 10, []string{"a1", "b1", "a2", "a3"}},
		{"Limit", 3, []string{"a1", "b1", "a2"}},
		{"None", 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := refundry.RecoveryClaim{Now: now, Limit: tt.limit}.Plan(lists)
			var ids []string
			for _, a := range plan {
				ids = append(ids, a.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("Plan = %v, want %v", ids, tt.want)
			}
		})
	}
	// Each attempt counts one more and is due again after its backoff.
	plan := refundry.RecoveryClaim{Now: now, Limit: 10}.Plan(lists)
	if a := plan[2]; a.ID != "a2" || a.Attempts != 4 || !a.Next.Equal(now.Add(16*time.Second)) || a.MerchantID != "a" {
		t.Fatalf("attempt of a2 = %+v", a)
	}
}
