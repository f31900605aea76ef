package refundry

import (
	"net/mail"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a dashboard user may do: each role is a scope, so the one
// route table decides for people what it decides for keys.
type Role string

// Roles.
const (
	RoleViewer   Role = "viewer"   // reads
	RoleAgent    Role = "agent"    // also refunds and cancels
	RoleApprover Role = "approver" // also approves, rejects and resolves
	RoleAdmin    Role = "admin"    // everything, users and keys included
)

var roleScopes = map[Role]Scope{RoleViewer: ScopeRead, RoleAgent: ScopeRefund, RoleApprover: ScopeApprove, RoleAdmin: ScopeWrite}

// Scope is the scope a user of role r acts with; "" for an unknown role.
func (r Role) Scope() Scope { return roleScopes[r] }

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.Scope() != "" }

// User is a person who signs in to a merchant's dashboard with an email
// and a password. Approvals, resolutions and the audit log name them.
type User struct {
	ID         string `json:"id"`
	MerchantID string `json:"-"`
	Name       string `json:"name"`
	// Email is kept as given; it is unique per merchant in any case.
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// PasswordHash is bcrypt's; the password itself is never stored.
	PasswordHash []byte    `json:"-"`
	Disabled     time.Time `json:"disabled_at,omitzero"` // zero: active
	Created      time.Time `json:"created"`
}

// Password bounds: long enough to resist guessing, and within what
// bcrypt reads (72 bytes).
const (
	MinPassword = 12
	MaxPassword = 72
)

// passwordCost is bcrypt's cost: about 50 ms per hash on a small machine,
// paid at each sign-in, never per API request.
const passwordCost = 11

// NewUser returns a user of the merchant with password hashed, or
// EINVALID naming the first unusable field.
func NewUser(merchantID, name, email string, role Role, password string, now time.Time) (*User, error) {
	u := &User{ID: NewID(), MerchantID: merchantID, Name: strings.TrimSpace(name), Email: strings.TrimSpace(email), Role: role, Created: now}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if err := u.SetPassword(password); err != nil {
		return nil, err
	}
	return u, nil
}

// Validate returns EINVALID if the user's name, email or role is unusable.
func (u *User) Validate() error {
	if err := checkTexts(255, "name", u.Name, "email", u.Email); err != nil {
		return err
	}
	if strings.TrimSpace(u.Name) == "" {
		return ParamErrorf(EINVALID, "name", "Name is required.")
	}
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
		return ParamErrorf(EINVALID, "email", "Email must be an address such as ana@example.com.")
	}
	if !u.Role.Valid() {
		return ParamErrorf(EINVALID, "role", "Role must be viewer, agent, approver or admin.")
	}
	return nil
}

// SetPassword replaces the user's password hash, or returns EINVALID for
// a password too short or too long.
func (u *User) SetPassword(password string) error {
	if n := len(password); n < MinPassword || n > MaxPassword {
		return ParamErrorf(EINVALID, "password", "A password is %d to %d bytes long.", MinPassword, MaxPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return err
	}
	u.PasswordHash = h
	return nil
}

// CheckPassword reports whether password is the user's. It takes as long
// for a wrong password as for a right one.
func (u *User) CheckPassword(password string) bool {
	return len(u.PasswordHash) > 0 && bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) == nil
}

// DummyPasswordCheck spends the time of one CheckPassword, so that a
// sign-in for an unknown email takes as long as one with a wrong password
// and does not reveal which emails exist.
func DummyPasswordCheck(password string) {
	_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
}

// dummyHash is made on first use, not at start: every program that
// imports this package would otherwise pay for one hash.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("refundry-dummy-password"), passwordCost)
	return h
})

// Usable returns EUNAUTHORIZED if the user is disabled.
func (u *User) Usable() error {
	if !u.Disabled.IsZero() {
		return Errorf(EUNAUTHORIZED, "This user was disabled at %s; ask an admin of the merchant.", u.Disabled.UTC().Format(time.RFC3339))
	}
	return nil
}
