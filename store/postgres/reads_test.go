package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// While no server of --db takes writes, a multi-host URL still serves
// reads (from the standby pool, which takes any host), and refuses
// writes; a single-host URL opens no second pool and serves neither.
// The database set read-only stands in for a standby: the primary pool's
// target_session_attrs=read-write refuses it as it would a standby.
func TestReadsFallBackToTheStandbyPool(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hosts     int
		readsWork bool
	}{
		{"one host", 1, false},
		{"two hosts", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			u, err := url.Parse(freshDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
			u.Host = strings.TrimSuffix(strings.Repeat(u.Host+",", tc.hosts), ",")
			q := u.Query()
			q.Set("target_session_attrs", "read-write")
			u.RawQuery = q.Encode()
			s, err := Open(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if (s.standby != nil) != (tc.hosts > 1) {
				t.Fatalf("standby pool opened: %v, with %d hosts", s.standby != nil, tc.hosts)
			}
			m := storetest.NewMerchant()
			if err := s.CreateMerchant(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
			admin(t, ctx, "ALTER DATABASE "+name+" SET default_transaction_read_only = on")
			t.Cleanup(func() { admin(t, context.Background(), "ALTER DATABASE "+name+" RESET default_transaction_read_only") })
			s.pool.Reset()

			got, err := s.FindMerchant(ctx, m.ID)
			switch {
			case tc.readsWork && (err != nil || got.Slug != m.Slug):
				t.Errorf("FindMerchant with no primary: %v, %v; want the merchant", got, err)
			case !tc.readsWork && refundry.ErrorCode(err) != refundry.EUNAVAILABLE:
				t.Errorf("FindMerchant with no primary: %v, want EUNAVAILABLE", err)
			}
			if err := s.CreateMerchant(ctx, storetest.NewMerchant(), nil); refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
				t.Errorf("write with no primary: %v, want EUNAVAILABLE", err)
			}
		})
	}
}

func admin(t *testing.T, ctx context.Context, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func TestPrimaryGone(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", context.Background(), nil, false},
		{"no rows", context.Background(), pgx.ErrNoRows, false},
		{"cannot connect", context.Background(), &pgconn.ConnectError{}, true},
		{"read-only", context.Background(), &pgconn.PgError{Code: "25006"}, true},
		{"shut down", context.Background(), &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", context.Background(), &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", context.Background(), &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", context.Background(), &pgconn.PgError{Code: "23505"}, false},
		{"serialization failure", context.Background(), &pgconn.PgError{Code: "40001"}, false},
		{"connection closed", context.Background(), fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"request canceled", canceled, &pgconn.ConnectError{}, false},
		{"other", context.Background(), errors.New("a bug"), false},
	} {
		if got := primaryGone(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: primaryGone = %v, want %v", tc.name, got, tc.want)
		}
	}
}
