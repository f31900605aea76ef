package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
)

// Sessions live in this process's memory: the browser holds only a random
// session id, never the API key, and a restart signs everyone out. The
// key's id is kept so that each request can check the key still exists.
const (
	sessionCookie = "refundry_session"
	signinCookie  = "refundry_signin"
	// maxSessions bounds memory; only holders of a valid API key can make
	// sessions, so reaching it means many sign-ins, not an attack by anyone.
	maxSessions = 10000
	// maxFormBytes bounds a form body; the largest form is a few hundred
	// bytes.
	maxFormBytes = 64 << 10
)

type session struct {
	merchant *refundry.Merchant
	keyID    string
	csrf     string // the per-session token every POST must carry
	// canRefund is whether the key may refund, set by auth on every
	// request from the key it reads then: pages offer refund and cancel
	// forms only to sessions that may use them.
	canRefund bool
	created   time.Time
	seen      time.Time
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	// byHash is keyed by the SHA-256 of the cookie's id, so that the map
	// (and a heap dump of it) never holds a usable session id.
	byHash map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byHash: map[string]*session{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create starts a session and returns the id for the cookie.
func (ss *sessions) create(m *refundry.Merchant, keyID string, idle, max time.Duration) string {
	id := randomToken()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byHash) >= maxSessions {
		ss.pruneLocked(now, idle, max)
	}
	if len(ss.byHash) >= maxSessions {
		var oldest string
		for h, s := range ss.byHash {
			if oldest == "" || s.seen.Before(ss.byHash[oldest].seen) {
				oldest = h
			}
		}
		delete(ss.byHash, oldest)
	}
	ss.byHash[hashID(id)] = &session{merchant: m, keyID: keyID, csrf: randomToken(), created: now, seen: now}
	return id
}

func (ss *sessions) pruneLocked(now time.Time, idle, max time.Duration) {
	for h, s := range ss.byHash {
		if expired(s, now, idle, max) {
			delete(ss.byHash, h)
		}
	}
}

func expired(s *session, now time.Time, idle, max time.Duration) bool {
	return now.Sub(s.seen) >= idle || now.Sub(s.created) >= max
}

// get returns the live session with that id, marking it used, or nil.
func (ss *sessions) get(id string, idle, max time.Duration) *session {
	if id == "" {
		return nil
	}
	h := hashID(id)
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byHash[h]
	if s == nil {
		return nil
	}
	if expired(s, now, idle, max) {
		delete(ss.byHash, h)
		return nil
	}
	s.seen = now
	// A copy: handlers read it without the lock.
	c := *s
	return &c
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byHash, hashID(id))
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
		s := d.sessions.get(id, d.opts.SessionIdle, d.opts.SessionMax)
		var key *refundry.APIKey
		if s != nil {
			// A key deleted, revoked or expired since sign-in ends its
			// sessions: it is read afresh on every request, never cached.
			var err error
			key, err = d.eng.FindAPIKey(r.Context(), s.keyID)
			if refundry.ErrorCode(err) == refundry.ENOTFOUND || (err == nil && key.Usable(d.eng.Now()) != nil) {
				d.sessions.delete(id)
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
		// every API route: a session may do what its key's scope allows.
		s.canRefund = edge.May(key.Scope, http.MethodPost, basePath+"/sales/{id}/refund")
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
			// Every dashboard form but sign-out refunds: a read key may look,
			// not refund, as on the API.
			if edge.Authorize(key.Scope, edge.RouteOf(r)) != nil {
				d.renderError(w, r, s, http.StatusForbidden, readOnlyMessage)
				return
			}
		}
		ctx := refundry.WithActor(r.Context(), refundry.Actor{KeyID: key.ID, RemoteAddr: r.RemoteAddr,
			RequestID: edge.RequestID(r.Context()), Method: r.Method, Path: r.URL.Path})
		h(w, r.WithContext(ctx), s)
	})
}

// readOnlyMessage says why a read key's session has no refund form, and
// answers one that posts a refund form anyway.
const readOnlyMessage = "This key can read but not refund: its scope is read. To refund or cancel refunds, sign out and sign in with a key of scope refund or write."

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
}

func (d *dashboard) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	if d.sessions.get(cookieValue(r, sessionCookie), d.opts.SessionIdle, d.opts.SessionMax) != nil {
		http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.renderSignIn(w, r, http.StatusOK, "")
}

// renderSignIn shows the form with a fresh double-submit token: there is
// no session to hold a CSRF token yet, so the token sits in a cookie the
// form must echo, which a cross-site page can neither read nor set.
func (d *dashboard) renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := randomToken()
	d.setCookie(w, r, signinCookie, token, basePath+"/signin", 600)
	d.render(w, r, status, "signin", page{Title: "Sign in", Data: signinData{Token: token, Next: localNext(r.FormValue("next")), Error: msg}})
}

func (d *dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d.renderSignIn(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if !sameToken(r.PostForm.Get("csrf"), cookieValue(r, signinCookie)) {
		d.renderSignIn(w, r, http.StatusForbidden, "The sign-in form expired or was not sent from this page. Try again.")
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
		d.renderSignIn(w, r, http.StatusUnauthorized, msg)
		return
	} else if err != nil {
		d.renderInternal(w, r, nil, err)
		return
	}
	keyID, _, _ := refundry.ParseAPIKey(key)
	// A new id at every sign-in: an id planted before sign-in (session
	// fixation) never becomes a signed-in one.
	if old := cookieValue(r, sessionCookie); old != "" {
		d.sessions.delete(old)
	}
	id := d.sessions.create(m, keyID, d.opts.SessionIdle, d.opts.SessionMax)
	d.setCookie(w, r, sessionCookie, id, basePath+"/", 0)
	d.setCookie(w, r, signinCookie, "", basePath+"/signin", -1)
	d.logger.InfoContext(r.Context(), "dashboard sign-in", "merchant", m.ID, "key", keyID)
	http.Redirect(w, r, localNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (d *dashboard) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) {
	d.sessions.delete(cookieValue(r, sessionCookie))
	d.setCookie(w, r, sessionCookie, "", basePath+"/", -1)
	http.Redirect(w, r, basePath+"/signin", http.StatusSeeOther)
}
