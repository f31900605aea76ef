package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// apiKeyJSON is an API key as the native API shows it: never its secret
// or hash, except the secret once, in the answer that creates it.
type apiKeyJSON struct {
	ID        string  `json:"id"`
	Object    string  `json:"object"`
	Name      string  `json:"name"`
	Scope     string  `json:"scope"`
	Prefix    string  `json:"prefix"`
	Created   int64   `json:"created"`
	ExpiresAt *int64  `json:"expires_at"`
	RevokedAt *int64  `json:"revoked_at"`
	Secret    *string `json:"secret,omitempty"`
}

func renderAPIKey(k *refundry.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Object: "api_key", Name: k.Name, Scope: string(k.Scope), Prefix: k.Prefix(),
		Created: unix(k.Created), ExpiresAt: optUnix(k.Expires), RevokedAt: optUnix(k.Revoked)}
}

func optUnix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := unix(t)
	return &n
}

func handleCreateAPIKey(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var in struct {
			Name      string       `json:"name"`
			Scope     string       `json:"scope"`
			ExpiresAt *json.Number `json:"expires_at"`
		}
		if err := DecodeStrict(body, &in); err != nil {
			Error(w, r, logger, err)
			return
		}
		if in.Name == "" {
			Error(w, r, logger, paramInvalid("name", "Name is required."))
			return
		}
		if in.Scope == "" {
			Error(w, r, logger, paramInvalid("scope", "Scope is required: read, refund, approve or write."))
			return
		}
		spec := engine.KeySpec{Name: in.Name, Scope: refundry.Scope(in.Scope)}
		if in.ExpiresAt != nil {
			n, err := in.ExpiresAt.Int64()
			if err != nil || n <= 0 || n > 1<<40 {
				Error(w, r, logger, paramInvalid("expires_at", "expires_at must be a unix time in seconds."))
				return
			}
			spec.Expires = time.Unix(n, 0).UTC()
		}
		key, text, err := eng.CreateAPIKey(r.Context(), edge.MerchantFrom(r.Context()).ID, spec)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		out := renderAPIKey(key)
		out.Secret = &text // shown this once
		edge.WriteJSON(w, http.StatusCreated, out)
	})
}

func handleListAPIKeys(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		keys, more, err := eng.ListAPIKeys(r.Context(), edge.MerchantFrom(r.Context()).ID, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, keys, renderAPIKey, more, "/v1/api_keys")
	})
}

func handleRevokeAPIKey(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "API key")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if _, err := edge.ReadBody(w, r, MaxBody); err != nil {
			Error(w, r, logger, err)
			return
		}
		key, err := eng.RevokeAPIKey(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderAPIKey(key))
	})
}

// auditEntryJSON is one row of the audit log.
type auditEntryJSON struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Key    string `json:"key"`
	Action string `json:"action"`
	// User is the dashboard user who acted, signed in with a password;
	// null for an API key, the CLI and the system.
	User     *string `json:"user"`
	ObjectID *string `json:"object_id"`
	Result   string  `json:"result"`
	// Note is why, where a person said: an approval's, a rejection's or
	// a resolution's note.
	Note       *string `json:"note"`
	RemoteAddr string  `json:"remote_addr"`
	RequestID  string  `json:"request_id"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Created    int64   `json:"created"`
}

func handleListAuditLog(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, page, err := listQuery(r, "key", "action", "created[gte]", "created[lt]")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.AuditFilter{Page: page, KeyID: q.Get("key"), Action: q.Get("action")}
		if f.CreatedFrom, err = unixParam(q, "created[gte]"); err != nil {
			Error(w, r, logger, err)
			return
		}
		if f.CreatedTo, err = unixParam(q, "created[lt]"); err != nil {
			Error(w, r, logger, err)
			return
		}
		entries, more, err := eng.ListAuditLog(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, entries, renderAuditEntry, more, "/v1/audit_log")
	})
}

func renderAuditEntry(e *refundry.AuditEntry) auditEntryJSON {
	return auditEntryJSON{ID: e.ID, Object: "audit_entry", Key: e.Actor.KeyID, User: nullable(e.Actor.UserID), Action: e.Action,
		ObjectID: nullable(e.ObjectID), Result: e.Result, Note: nullable(e.Note), RemoteAddr: e.Actor.RemoteAddr, RequestID: e.Actor.RequestID,
		Method: e.Actor.Method, Path: e.Actor.Path, Created: unix(e.Created)}
}
