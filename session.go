package refundry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// DashboardSession is a signed-in dashboard session as the database keeps
// it, so that any node behind a load balancer serves its next page. The
// browser holds a random token; the database holds only the token's
// SHA-256 (Hash), so neither a copy of the database nor a backup can be
// replayed as a signed-in cookie.
type DashboardSession struct {
	Hash       string
	MerchantID string
	// A session is a key's (signed in with an API key) or a user's
	// (signed in with a password): exactly one of KeyID and UserID is set.
	KeyID   string
	UserID  string
	Created time.Time
	// Seen is when the session was last used, to SessionTouchInterval:
	// a page writes it only when it is older than that, so that reading
	// the dashboard costs reads, not a write per page.
	Seen time.Time
	// Expires is when it ends unless it is used before (SessionRule).
	Expires time.Time
}

// SessionHash is what the database keeps of a session token: its SHA-256,
// hex.
func SessionHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SessionRule is how long dashboard sessions live: Idle after their last
// use, Max after sign-in whatever the use.
type SessionRule struct {
	Idle, Max time.Duration
}

// SessionTouchInterval is how stale a session's Seen may grow before a
// page writes it again, or a tenth of Idle if that is shorter. Idle is
// therefore kept to within this much: a session of 30 minutes' idle ends
// between 29 and 30 minutes after its last use.
const SessionTouchInterval = time.Minute

// Start returns a new session of the merchant's key or user, signed in at
// now.
func (r SessionRule) Start(hash, merchantID, keyID, userID string, now time.Time) *DashboardSession {
	s := &DashboardSession{Hash: hash, MerchantID: merchantID, KeyID: keyID, UserID: userID, Created: now, Seen: now}
	s.Expires = r.expiry(s.Created, now)
	return s
}

// Touch decides what a use at now does to a live session: whether its
// Seen must be written again, and then the session as it is after. A
// session used again within SessionTouchInterval is left as it is.
func (r SessionRule) Touch(s *DashboardSession, now time.Time) (*DashboardSession, bool) {
	if now.Sub(s.Seen) < min(SessionTouchInterval, r.Idle/10) {
		return s, false
	}
	c := *s
	c.Seen = now
	c.Expires = r.expiry(c.Created, now)
	return &c, true
}

// expiry is the earlier of the idle and the absolute end.
func (r SessionRule) expiry(created, seen time.Time) time.Time {
	idle, abs := seen.Add(r.Idle), created.Add(r.Max)
	if abs.Before(idle) {
		return abs
	}
	return idle
}

// SessionStore keeps the dashboard's sessions, shared by every node that
// uses the database.
type SessionStore interface {
	// CreateSession stores a new session. Sessions expired before its
	// creation may be deleted with it. Returns ENOTFOUND if the merchant
	// does not exist.
	CreateSession(ctx context.Context, s *DashboardSession) error
	// FindSession returns the session with that hash, unless it expired
	// at or before now. Returns ENOTFOUND if there is none.
	FindSession(ctx context.Context, hash string, now time.Time) (*DashboardSession, error)
	// TouchSession records a use: the session's Seen and Expires become
	// s's. A session deleted meanwhile stays deleted (no error).
	TouchSession(ctx context.Context, s *DashboardSession) error
	// DeleteSession ends the session with that hash; ending one that is
	// not there is not an error.
	DeleteSession(ctx context.Context, hash string) error
}
