package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// What several nodes on one database share: dashboard sessions, the rate
// limit's counts and leases.
func testNodes(t *testing.T, open Opener) {
	ctx := context.Background()
	rule := refundry.SessionRule{Idle: 30 * time.Minute, Max: 12 * time.Hour}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("Session", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		hash := refundry.SessionHash(refundry.NewID())
		if err := s.CreateSession(ctx, rule.Start(hash, m.ID, "key1", "", t0)); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSession(ctx, hash, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got.MerchantID != m.ID || got.KeyID != "key1" || got.UserID != "" || !got.Created.Equal(t0) || !got.Expires.Equal(t0.Add(30*time.Minute)) {
			t.Fatalf("session = %+v", got)
		}
		for _, tt := range []struct {
			name string
			at   time.Time
			code string
		}{
			{"Live", t0.Add(29 * time.Minute), ""},
			{"Idle", t0.Add(30 * time.Minute), refundry.ENOTFOUND},
		} {
			if _, err := s.FindSession(ctx, hash, tt.at); refundry.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want %q", tt.name, err, tt.code)
			}
		}
		// A use moves the idle end, never past the absolute one.
		touched, ok := rule.Touch(got, t0.Add(20*time.Minute))
		if !ok {
			t.Fatal("a use 20 minutes later is not recorded")
		}
		if err := s.TouchSession(ctx, touched); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindSession(ctx, hash, t0.Add(45*time.Minute)); err != nil {
			t.Errorf("used at 20 minutes, gone at 45: %v", err)
		}
		if err := s.DeleteSession(ctx, hash); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindSession(ctx, hash, t0.Add(21*time.Minute)); refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Errorf("after sign-out: %v, want ENOTFOUND", err)
		}
		if err := s.DeleteSession(ctx, hash); err != nil {
			t.Errorf("signing out twice: %v", err)
		}
		if err := s.TouchSession(ctx, touched); err != nil {
			t.Errorf("touching a session signed out: %v", err)
		}
		if _, err := s.FindSession(ctx, hash, t0.Add(21*time.Minute)); refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Errorf("a touch brought a signed-out session back: %v", err)
		}
	})

	t.Run("SessionUser", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		hash := refundry.SessionHash(refundry.NewID())
		if err := s.CreateSession(ctx, rule.Start(hash, m.ID, "", "user1", t0)); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSession(ctx, hash, t0)
		if err != nil || got.UserID != "user1" || got.KeyID != "" {
			t.Fatalf("user session = %+v, %v", got, err)
		}
	})

	t.Run("SessionNoMerchant", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		err := s.CreateSession(ctx, rule.Start(refundry.SessionHash(refundry.NewID()), "nosuchmerchant", "k", "", t0))
		if refundry.ErrorCode(err) != refundry.ENOTFOUND {
			t.Fatalf("session of no merchant: %v, want ENOTFOUND", err)
		}
	})

	t.Run("RateCount", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		key, other := refundry.NewID(), refundry.NewID()
		w1, w2 := t0, t0.Add(2*time.Second)
		for _, tt := range []struct {
			key   string
			start time.Time
			want  int64
		}{
			{key, w1, 1}, {key, w1, 2}, {other, w1, 1}, {key, w2, 1}, {key, w1, 3}, {key, w2, 2},
		} {
			n, err := s.CountRequest(ctx, tt.key, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("count of %s at %v = %d, want %d", tt.key, tt.start, n, tt.want)
			}
		}
	})

	t.Run("Lease", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		name := "lease-" + refundry.NewID()
		for _, tt := range []struct {
			what   string
			holder string
			now    time.Time
			want   bool
		}{
			{"Free", "a", t0, true},
			{"HeldByAnother", "b", t0.Add(time.Minute), false},
			{"RenewedByItsHolder", "a", t0.Add(2 * time.Minute), true},
			{"StillHeld", "b", t0.Add(16 * time.Minute), false},
			{"Ended", "b", t0.Add(17 * time.Minute), true},
			{"TakenOver", "a", t0.Add(18 * time.Minute), false},
		} {
			got, err := s.TakeLease(ctx, name, tt.holder, tt.now, tt.now.Add(15*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s: %s got it %v, want %v", tt.what, tt.holder, got, tt.want)
			}
		}
	})
}
