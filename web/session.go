package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// Sessions live in the database, so that any node behind a load balancer
// serves a signed-in page and a restart signs no one out: the browser
// holds only a random token, never the API key, and the database only the
// token's hash (refundry.DashboardSession). The key's or user's id is
// kept so that each request can check it is still usable.
const (
	sessionCookie = "refundry_session"
	signinCookie  = "refundry_signin"
	// maxFormBytes bounds a form body; the largest form is a few hundred
	// bytes.
	maxFormBytes = 64 << 10
)

type session struct {
	merchant *refundry.Merchant
	// A session is a key's (signed in with an API key) or a user's
	// (signed in with a password): exactly one of keyID and userID is set.
	keyID  string
	userID string
	csrf   string // the per-session token every POST must carry
	// The fields below are set by auth on every request from the key or
	// user it reads then, never kept from sign-in.
	//
	// canRefund and canApprove are whether the session's scope allows
	// refunding and approving: pages offer forms and buttons only to
	// sessions that may use them.
	canRefund  bool
	canApprove bool
	// who is the session's identity as approvals compare them
	// (refundry.Actor.Who); name is how the header shows it.
	who    string
	name   string
	scope  refundry.Scope
	queues queueCounts
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// csrfToken is the token the forms of the session of token carry. It is
// derived from the session's token, so every node knows it without
// storing it, and the stored hash of the token does not give it away.
func csrfToken(token string) string {
	sum := sha256.Sum256([]byte("refundry dashboard csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (d *dashboard) sessionRule() refundry.SessionRule {
	return refundry.SessionRule{Idle: d.opts.SessionIdle, Max: d.opts.SessionMax}
}

// session returns the live session of token, or nil when there is none
// (never signed in, signed out, expired); an error only when the
// database could not say.
func (d *dashboard) session(ctx context.Context, token string) (*session, error) {
	if token == "" {
		return nil, nil
	}
	ds, m, err := d.eng.Session(ctx, d.sessionRule(), token)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &session{merchant: m, keyID: ds.KeyID, userID: ds.UserID, csrf: csrfToken(token)}, nil
}

// endSession signs token's session out; a failure is logged, and the
// cookie is cleared anyway.
func (d *dashboard) endSession(ctx context.Context, token string) {
	if err := d.eng.EndSession(ctx, token); err != nil {
		d.logger.WarnContext(ctx, "dashboard: ending a session failed", "err", err)
	}
}

func (d *dashboard) secure(r *http.Request) bool { return r.TLS != nil || d.opts.SecureCookies }

func (d *dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		Secure: d.secure(r), HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// sameToken compares a submitted token with the expected one in constant
// time; an empty expected token never matches.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// auth runs h for a signed-in request. Without a live session a GET is
// sent to the sign-in page and comes back afterwards; every POST must
// carry the session's CSRF token or it is refused with 403 before h runs,
// so a forged form changes nothing.
func (d *dashboard) auth(h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := cookieValue(r, sessionCookie)
		s, err := d.session(r.Context(), id)
		if err != nil {
			d.renderInternal(w, r, nil, err)
			return
		}
		var actor refundry.Actor
		var scope refundry.Scope
		if s != nil {
			// A key deleted, revoked or expired, or a user disabled, since
			// sign-in ends its sessions: each is read afresh on every
			// request, never cached.
			var err error
			actor, scope, err = d.identify(r.Context(), s)
			if refundry.ErrorCode(err) == refundry.EUNAUTHORIZED {
				d.endSession(r.Context(), id)
				s = nil
			} else if err != nil {
				d.renderInternal(w, r, nil, err)
				return
			}
		}
		if s == nil {
			next := ""
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, signinURL(next), http.StatusSeeOther)
			return
		}
		// Who may do what is edge's one table, for the dashboard as for
		// every API route: a session may do what its key's scope, or its
		// user's role, allows.
		s.canRefund = edge.May(scope, http.MethodPost, basePath+"/sales/{id}/refund")
		s.canApprove = edge.May(scope, http.MethodPost, basePath+"/refunds/{id}/approve")
		s.who, s.scope = actor.Who(), scope
		actor.RemoteAddr, actor.RequestID = r.RemoteAddr, edge.RequestID(r.Context())
		actor.Method, actor.Path = r.Method, r.URL.Path
		ctx := refundry.WithActor(r.Context(), actor)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				d.renderError(w, r, s, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), s.csrf) {
				d.renderError(w, r, s, http.StatusForbidden, "This form was not sent from your dashboard session (its security token is missing or wrong), so nothing was changed. Reload the page and try again.")
				return
			}
			// A read key may look, not refund, as on the API; only an
			// approver decides held refunds.
			if route := edge.RouteOf(r); edge.Authorize(scope, route) != nil {
				d.recordRefusal(ctx, s, route.Action, refundry.EFORBIDDEN)
				d.renderError(w, r, s, http.StatusForbidden, refusedMessage(s, route.Scope))
				return
			}
		}
		s.queues = d.queueCounts(ctx, s.merchant.ID)
		h(w, r, s)
	})
}

// identify reads the session's key or user as it is now and returns the
// actor the session acts as and its scope; EUNAUTHORIZED when the key is
// gone, revoked or expired, or the user gone or disabled.
func (d *dashboard) identify(ctx context.Context, s *session) (refundry.Actor, refundry.Scope, error) {
	gone := refundry.Errorf(refundry.EUNAUTHORIZED, "signed out")
	if s.userID != "" {
		u, err := d.eng.FindUser(ctx, s.merchant.ID, s.userID)
		if refundry.ErrorCode(err) == refundry.ENOTFOUND || (err == nil && u.Usable() != nil) {
			return refundry.Actor{}, "", gone
		} else if err != nil {
			return refundry.Actor{}, "", err
		}
		s.name = u.Name + " (" + string(u.Role) + ")"
		return refundry.Actor{UserID: u.ID}, u.Role.Scope(), nil
	}
	key, err := d.eng.FindAPIKey(ctx, s.keyID)
	if refundry.ErrorCode(err) == refundry.ENOTFOUND || (err == nil && key.Usable(d.eng.Now()) != nil) {
		return refundry.Actor{}, "", gone
	} else if err != nil {
		return refundry.Actor{}, "", err
	}
	s.name = "key " + key.Name + " (" + string(key.Scope) + ")"
	return refundry.Actor{KeyID: key.ID}, key.Scope, nil
}

// recordRefusal audits a decision the session was refused (approving
// without the scope, one's own refund, twice): a refused write changed
// nothing and so left no row of its own. Routes that write no audit row
// of their own (action "") are not recorded.
func (d *dashboard) recordRefusal(ctx context.Context, s *session, action, code string) {
	if action == "" {
		return
	}
	if err := d.eng.RecordRefusal(context.WithoutCancel(ctx), s.merchant.ID, action, code); err != nil {
		d.logger.ErrorContext(ctx, "dashboard: audit of a refused write failed", "action", action, "result", code, "err", err)
	}
}

// refusedMessage says why a session may not use a form: a read session
// may not refund, a refund session may not approve.
func refusedMessage(s *session, need refundry.Scope) string {
	if need == refundry.ScopeApprove {
		return approveOnlyMessage(s)
	}
	return readOnlyMessage(s)
}

// approveOnlyMessage says why a session sees the queues but no buttons.
func approveOnlyMessage(s *session) string {
	if s.userID != "" {
		return "You may see this queue but not decide: your role allows " + string(s.scope) +
			". Approving, rejecting and resolving refunds take the role approver or admin; ask an admin of the merchant."
	}
	return "You may see this queue but not decide: this key's scope is " + string(s.scope) +
		". Approving, rejecting and resolving refunds take a key of scope approve or write, or a user of role approver or admin."
}

// readOnlyMessage says why a read session has no refund form, and
// answers one that posts a refund form anyway.
func readOnlyMessage(s *session) string {
	if s.userID != "" {
		return "You can read but not refund: your role is viewer. To refund or cancel refunds, ask an admin of the merchant for the role agent, approver or admin."
	}
	return "This key can read but not refund: its scope is read. To refund or cancel refunds, sign out and sign in with a key of scope refund or write."
}

func signinURL(next string) string {
	if next == "" || next == basePath+"/" {
		return basePath + "/signin"
	}
	return basePath + "/signin?next=" + url.QueryEscape(next)
}

// localNext keeps a post-sign-in destination only if it is a dashboard
// path, so the sign-in page cannot be used to redirect elsewhere.
func localNext(next string) string {
	if strings.HasPrefix(next, basePath+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return basePath + "/"
}

type signinData struct {
	Token string
	Next  string
	Error string
	// Password is set when the error answers the password form, which
	// is then filled again with Merchant and Email (never the password).
	Password bool
	Merchant string
	Email    string
}

func (d *dashboard) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if s, err := d.session(r.Context(), cookieValue(r, sessionCookie)); err == nil && s != nil {
		http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.renderSignIn(w, r, http.StatusOK, signinData{})
}

// renderSignIn shows the forms with a fresh double-submit token: there is
// no session to hold a CSRF token yet, so the token sits in a cookie the
// form must echo, which a cross-site page can neither read nor set.
func (d *dashboard) renderSignIn(w http.ResponseWriter, r *http.Request, status int, data signinData) {
	data.Token = randomToken()
	data.Next = localNext(r.FormValue("next"))
	d.setCookie(w, r, signinCookie, data.Token, basePath+"/signin", 600)
	d.render(w, r, status, "signin", page{Title: "Sign in", Data: data})
}

// handleSignIn signs in with an API key, or, when the form carries an
// email, as one of a merchant's users with a password.
func (d *dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d.renderSignIn(w, r, http.StatusBadRequest, signinData{Error: "The form could not be read."})
		return
	}
	if !sameToken(r.PostForm.Get("csrf"), cookieValue(r, signinCookie)) {
		d.renderSignIn(w, r, http.StatusForbidden, signinData{Error: "The sign-in form expired or was not sent from this page. Try again."})
		return
	}
	if r.PostForm.Has("email") {
		d.handlePasswordSignIn(w, r)
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	m, _, err := d.eng.Authenticate(r.Context(), key)
	if refundry.ErrorCode(err) == refundry.EUNAUTHORIZED {
		// The engine says which: unknown, revoked or expired.
		msg := refundry.ErrorMessage(err)
		if key == "" {
			msg = "Paste an API key to sign in."
		}
		d.renderSignIn(w, r, http.StatusUnauthorized, signinData{Error: msg})
		return
	} else if err != nil {
		d.renderInternal(w, r, nil, err)
		return
	}
	keyID, _, _ := refundry.ParseAPIKey(key)
	d.startSession(w, r, m, keyID, "")
	d.logger.InfoContext(r.Context(), "dashboard sign-in", "merchant", m.ID, "key", keyID)
}

// handlePasswordSignIn checks a user's password through the engine, after
// the sign-in limits: a wrong password and an unknown merchant or email
// get the same answer, so the form reveals neither.
func (d *dashboard) handlePasswordSignIn(w http.ResponseWriter, r *http.Request) {
	form := signinData{Password: true, Merchant: strings.TrimSpace(r.PostForm.Get("merchant")), Email: strings.TrimSpace(r.PostForm.Get("email"))}
	password := r.PostForm.Get("password")
	if form.Merchant == "" || form.Email == "" || password == "" {
		form.Error = "Give the merchant, your email and your password to sign in."
		d.renderSignIn(w, r, http.StatusUnauthorized, form)
		return
	}
	if err := d.signinLimits.allow(r, form.Merchant, form.Email); err != nil {
		edge.SetRetryAfter(w, err)
		form.Error = "Too many sign-in attempts. Wait " + w.Header().Get("Retry-After") + " seconds and try again."
		d.logger.WarnContext(r.Context(), "dashboard sign-in rate-limited", "merchant", form.Merchant, "remote", r.RemoteAddr)
		d.renderSignIn(w, r, http.StatusTooManyRequests, form)
		return
	}
	m, u, err := d.eng.SignIn(r.Context(), form.Merchant, form.Email, password)
	if refundry.ErrorCode(err) == refundry.EUNAUTHORIZED {
		form.Error = refundry.ErrorMessage(err)
		d.renderSignIn(w, r, http.StatusUnauthorized, form)
		return
	} else if err != nil {
		d.renderInternal(w, r, nil, err)
		return
	}
	d.startSession(w, r, m, "", u.ID)
	d.logger.InfoContext(r.Context(), "dashboard sign-in", "merchant", m.ID, "user", u.ID)
}

// startSession starts a session of the key or user and sends the browser
// where it was going.
func (d *dashboard) startSession(w http.ResponseWriter, r *http.Request, m *refundry.Merchant, keyID, userID string) {
	// A new id at every sign-in: an id planted before sign-in (session
	// fixation) never becomes a signed-in one.
	if old := cookieValue(r, sessionCookie); old != "" {
		d.endSession(r.Context(), old)
	}
	id := randomToken()
	if err := d.eng.StartSession(r.Context(), d.sessionRule(), id, m.ID, keyID, userID); err != nil {
		d.renderInternal(w, r, nil, err)
		return
	}
	d.setCookie(w, r, sessionCookie, id, basePath+"/", 0)
	d.setCookie(w, r, signinCookie, "", basePath+"/signin", -1)
	http.Redirect(w, r, localNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// Password sign-in limits. Each merchant and email may be tried
// signInBurst times at once and then signInPerMinute times a minute:
// guessing one person's password is slow from however many addresses.
// Each client address may try addressBurst times at once and then
// addressPerMinute times a minute, more than one person needs, since an
// office behind one proxy shares its address: trying many accounts from
// one address is slow too.
const (
	signInPerMinute  = 5
	signInBurst      = 5
	addressPerMinute = 20
	addressBurst     = 20
)

// signinLimits are the password sign-in limits, a bucket per client
// address and a bucket per account.
type signinLimits struct {
	byAddress, byAccount *edge.RateLimiter
}

// newSigninLimits makes the limits, counted with count in the database
// every node shares, so that a guesser gains nothing from a load
// balancer's spreading of attempts; refill > 0 replaces both buckets'
// refill interval (tests).
func newSigninLimits(refill time.Duration, count edge.Counter) signinLimits {
	perSecond := func(perMinute float64) float64 {
		if refill > 0 {
			return 1 / refill.Seconds()
		}
		return perMinute / 60
	}
	return signinLimits{
		byAddress: edge.NewRateLimiter(perSecond(addressPerMinute), addressBurst).Shared(count),
		byAccount: edge.NewRateLimiter(perSecond(signInPerMinute), signInBurst).Shared(count),
	}
}

// allow takes a token from the address's bucket and the account's, or
// returns ERATELIMITED with the wait (edge.SetRetryAfter reads it). Every
// attempt counts, right or wrong, before its password is checked: the
// check costs a bcrypt hash, which a flood of attempts must not buy.
func (l signinLimits) allow(r *http.Request, merchant, email string) error {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if err := l.byAddress.AllowContext(r.Context(), "addr:"+addr); err != nil {
		return err
	}
	// Emails and slugs compare as the stores find them: case aside.
	return l.byAccount.AllowContext(r.Context(), "account:"+strings.ToLower(merchant)+"\x00"+strings.ToLower(email))
}

func (d *dashboard) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) {
	d.endSession(r.Context(), cookieValue(r, sessionCookie))
	d.setCookie(w, r, sessionCookie, "", basePath+"/", -1)
	http.Redirect(w, r, basePath+"/signin", http.StatusSeeOther)
}
