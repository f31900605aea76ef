package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func testMerchants(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := NewMerchant()
		key, _ := refundry.NewAPIKey(m.ID, m.Created)
		if err := s.CreateMerchant(ctx, m, key); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindMerchant(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "FindMerchant", got, m)
		checkTime(t, "merchant.Created", got.Created)
		got, err = s.FindMerchantBySlug(ctx, m.Slug)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "FindMerchantBySlug", got, m)
		k, err := s.FindAPIKey(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.ID != key.ID || k.MerchantID != m.ID || !bytes.Equal(k.Hash, key.Hash) || !k.Created.Equal(key.Created) {
			t.Fatalf("FindAPIKey = %+v, want %+v", k, key)
		}
		checkTime(t, "key.Created", k.Created)
	})

	t.Run("ErrSlugTaken", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		dup := NewMerchant()
		dup.Slug = m.Slug
		key, _ := refundry.NewAPIKey(dup.ID, dup.Created)
		wantCode(t, s.CreateMerchant(ctx, dup, key), refundry.ECONFLICT)
		_, err := s.FindMerchant(ctx, dup.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindAPIKey(ctx, key.ID)
		wantCode(t, err, refundry.ENOTFOUND)
	})

	t.Run("CreateAPIKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		m := MustCreateMerchant(t, s)
		key, text := refundry.NewAPIKey(m.ID, time.Now().UTC().Truncate(time.Microsecond))
		if err := s.CreateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindAPIKey(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, _ := refundry.ParseAPIKey(text)
		if got.MerchantID != m.ID || !got.Verify(secret) {
			t.Fatalf("FindAPIKey = %+v", got)
		}

		t.Run("ErrNotFound", func(t *testing.T) {
			orphan, _ := refundry.NewAPIKey(refundry.NewID(), time.Now())
			wantCode(t, s.CreateAPIKey(ctx, orphan), refundry.ENOTFOUND)
			_, err := s.FindAPIKey(ctx, orphan.ID)
			wantCode(t, err, refundry.ENOTFOUND)
		})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, err := s.FindMerchant(ctx, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindMerchantBySlug(ctx, "m-"+refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = s.FindAPIKey(ctx, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
	})
}
