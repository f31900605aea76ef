package engine

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// StartSession signs a dashboard session in: the merchant's key (keyID)
// or user (userID), under token, which the browser keeps and the
// database knows only hashed. Every node sharing the database serves the
// session from then on.
func (e *Engine) StartSession(ctx context.Context, rule refundry.SessionRule, token, merchantID, keyID, userID string) error {
	s := rule.Start(refundry.SessionHash(token), merchantID, keyID, userID, e.Now().UTC())
	return e.Stores.Sessions.CreateSession(ctx, s)
}

// Session returns the live session of token and its merchant, recording
// the use when the session's last one is older than
// refundry.SessionTouchInterval. Returns ENOTFOUND when there is no live
// session of token: never signed in, signed out or expired.
func (e *Engine) Session(ctx context.Context, rule refundry.SessionRule, token string) (*refundry.DashboardSession, *refundry.Merchant, error) {
	if token == "" {
		return nil, nil, refundry.Errorf(refundry.ENOTFOUND, "No such session.")
	}
	now := e.Now().UTC()
	s, err := e.Stores.Sessions.FindSession(ctx, refundry.SessionHash(token), now)
	if err != nil {
		return nil, nil, err
	}
	if touched, ok := rule.Touch(s, now); ok {
		// A use not recorded only shortens the session by a minute, so a
		// database that reads but cannot write (a standby) still serves
		// the page.
		if err := e.Stores.Sessions.TouchSession(ctx, touched); err != nil {
			e.Logger.WarnContext(ctx, "dashboard session use not recorded", "err", err)
		} else {
			s = touched
		}
	}
	m, err := e.Stores.Merchants.FindMerchant(ctx, s.MerchantID)
	if err != nil {
		return nil, nil, err
	}
	return s, m, nil
}

// EndSession signs the session of token out, on every node at once.
func (e *Engine) EndSession(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return e.Stores.Sessions.DeleteSession(ctx, refundry.SessionHash(token))
}

// CountRequest counts a request of key in the rate-limit window starting
// at start, shared by every node on the database, and returns the
// window's count with it.
func (e *Engine) CountRequest(ctx context.Context, key string, start time.Time) (int64, error) {
	return e.Stores.Rates.CountRequest(ctx, key, start)
}
