package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testAPIKeys(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("NameScopeExpiry", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		key, _ := refundry.NewAPIKey(m.ID, time.Now().UTC().Truncate(time.Microsecond))
		key.Name, key.Scope, key.Expires = "reporting", refundry.ScopeRead, expires
		if err := s.CreateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindAPIKey(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "reporting" || got.Scope != refundry.ScopeRead || !got.Expires.Equal(expires) || !got.Revoked.IsZero() {
			t.Fatalf("FindAPIKey = %+v", got)
		}
	})

	t.Run("FirstKeyIsDefaultWrite", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		keys, more, err := s.ListAPIKeys(ctx, m.ID, refundry.Page{})
		if err != nil || more || len(keys) != 1 {
			t.Fatalf("ListAPIKeys = %d keys, %v, %v", len(keys), more, err)
		}
		k := keys[0]
		if k.Name != refundry.DefaultKeyName || k.Scope != refundry.ScopeWrite || !k.Expires.IsZero() || !k.Revoked.IsZero() {
			t.Fatalf("first key = %+v", k)
		}
	})

	t.Run("ListNewestFirstAndOwnOnly", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		var ids []string
		for range 3 {
			k, _ := refundry.NewAPIKey(m.ID, time.Now())
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, k.ID)
		}
		keys, more, err := s.ListAPIKeys(ctx, m.ID, refundry.Page{Limit: 2})
		if err != nil || !more || len(keys) != 2 || keys[0].ID != ids[2] || keys[1].ID != ids[1] {
			t.Fatalf("first page = %v, %v, %v", keys, more, err)
		}
		keys, more, err = s.ListAPIKeys(ctx, m.ID, refundry.Page{Limit: 2, StartingAfter: keys[1].ID})
		if err != nil || more || len(keys) != 2 || keys[0].ID != ids[0] {
			t.Fatalf("second page = %v, %v, %v", keys, more, err)
		}
		theirs, _, err := s.ListAPIKeys(ctx, other.ID, refundry.Page{})
		if err != nil || len(theirs) != 1 {
			t.Fatalf("other merchant's keys = %v, %v", theirs, err)
		}
	})

	t.Run("RevokeIsIdempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		k, _ := refundry.NewAPIKey(m.ID, time.Now())
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		first, err := s.RevokeAPIKey(ctx, m.ID, k.ID)
		if err != nil || first.Revoked.IsZero() {
			t.Fatalf("RevokeAPIKey = %+v, %v", first, err)
		}
		again, err := s.RevokeAPIKey(ctx, m.ID, k.ID)
		if err != nil || !again.Revoked.Equal(first.Revoked) {
			t.Fatalf("second RevokeAPIKey = %+v, %v; want revoked at %v", again, err, first.Revoked)
		}
		found, err := s.FindAPIKey(ctx, k.ID)
		if err != nil || !found.Revoked.Equal(first.Revoked) {
			t.Fatalf("FindAPIKey after revoke = %+v, %v", found, err)
		}
		if err := found.Usable(time.Now()); refundry.ErrorCode(err) != refundry.EUNAUTHORIZED {
			t.Fatalf("a revoked key is usable: %v", err)
		}
	})

	t.Run("ErrRevokeOtherMerchants", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
		k, _ := refundry.NewAPIKey(m.ID, time.Now())
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		_, err := s.RevokeAPIKey(ctx, other.ID, k.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.RevokeAPIKey(ctx, m.ID, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
		found, err := s.FindAPIKey(ctx, k.ID)
		if err != nil || !found.Revoked.IsZero() {
			t.Fatalf("another merchant revoked the key: %+v, %v", found, err)
		}
	})
}
