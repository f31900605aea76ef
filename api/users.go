package api

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// userJSON is a dashboard user as the native API shows them: never the
// password, nor its hash.
type userJSON struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Role       string `json:"role"`
	Created    int64  `json:"created"`
	DisabledAt *int64 `json:"disabled_at"`
}

func renderUser(u *refundry.User) userJSON {
	return userJSON{ID: u.ID, Object: "user", Name: u.Name, Email: u.Email, Role: string(u.Role),
		Created: unix(u.Created), DisabledAt: optUnix(u.Disabled)}
}

// handleCreateUser makes a dashboard user of the merchant. It honours no
// Idempotency-Key: a retry of a user already made is answered 409, since
// the merchant's users have each their own email.
func handleCreateUser(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var in struct {
			Name     string `json:"name"`
			Email    string `json:"email"`
			Role     string `json:"role"`
			Password string `json:"password"`
		}
		if err := DecodeStrict(body, &in); err != nil {
			Error(w, r, logger, err)
			return
		}
		u, err := eng.CreateUser(r.Context(), edge.MerchantFrom(r.Context()).ID,
			engine.UserSpec{Name: in.Name, Email: in.Email, Role: refundry.Role(in.Role), Password: in.Password})
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusCreated, renderUser(u))
	})
}

func handleListUsers(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		users, more, err := eng.ListUsers(r.Context(), edge.MerchantFrom(r.Context()).ID, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, users, renderUser, more, "/v1/users")
	})
}

func handleGetUser(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "user")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		u, err := eng.FindUser(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderUser(u))
	})
}

// handleDisableUser disables a user; disabling one again answers them
// unchanged.
func handleDisableUser(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "user")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		u, err := eng.DisableUser(r.Context(), edge.MerchantFrom(r.Context()).ID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderUser(u))
	})
}
