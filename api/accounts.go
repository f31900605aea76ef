package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// accountJSON is a merchant's gateway account. Its credentials are never
// shown: each field gives only a hint, its last four characters (nothing
// of a secret shorter than twelve), enough to tell two keys apart.
type accountJSON struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"`
	Kind        string            `json:"kind"`
	BaseURL     *string           `json:"base_url"`
	Credentials map[string]string `json:"credentials"`
	Status      string            `json:"status"`
	Created     int64             `json:"created"`
	RemovedAt   *int64            `json:"removed_at"`
}

// hintPrefix marks a hint as the end of a longer secret.
const hintPrefix = "…"

func renderAccount(a *refundry.GatewayAccount) accountJSON {
	out := accountJSON{ID: a.ID, Object: "gateway_account", Kind: a.Kind, BaseURL: nullable(a.BaseURL),
		Credentials: make(map[string]string, len(a.Hints)), Status: "active", Created: unix(a.Created), RemovedAt: unixPtr(a.Removed)}
	for f, h := range a.Hints {
		if h != "" {
			h = hintPrefix + h
		}
		out.Credentials[f] = h
	}
	if !a.Active() {
		out.Status = "removed"
	}
	return out
}

// GatewayAccountJSON is a gateway account exactly as the API shows it,
// hints and no secret, so that the command line prints the same object.
func GatewayAccountJSON(a *refundry.GatewayAccount) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(renderAccount(a)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

type accountRequest struct {
	Kind        string            `json:"kind"`
	BaseURL     string            `json:"base_url"`
	Credentials map[string]string `json:"credentials"`
}

func handleCreateGatewayAccount(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var in accountRequest
		if err := DecodeStrict(body, &in); err != nil {
			Error(w, r, logger, err)
			return
		}
		a, err := eng.CreateGatewayAccount(r.Context(), &refundry.GatewayAccount{MerchantID: merchantID,
			Kind: in.Kind, BaseURL: in.BaseURL, Credentials: in.Credentials})
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusCreated, renderAccount(a))
	})
}

func handleListGatewayAccounts(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		q, page, err := listQuery(r, "kind")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		kind := q.Get("kind")
		if _, ok := refundry.AccountKinds[kind]; kind != "" && !ok {
			Error(w, r, logger, paramInvalid("kind", "Kind must be one of "+strings.Join(refundry.AccountKindNames(), ", ")+"."))
			return
		}
		all, err := eng.GatewayAccounts(r.Context(), merchantID)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if kind != "" {
			all = slices.DeleteFunc(all, func(a *refundry.GatewayAccount) bool { return a.Kind != kind })
		}
		as, more := pageOf(all, func(a *refundry.GatewayAccount) string { return a.ID }, page)
		writeList(w, as, renderAccount, more, "/v1/gateway_accounts")
	})
}

func handleGetGatewayAccount(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		id, err := idParam(r, "gateway account")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		a, err := eng.GatewayAccount(r.Context(), merchantID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderAccount(a))
	})
}

// handleRemoveGatewayAccount removes an account: no new payment may name
// it. It answers the account, removed, rather than Stripe's bare
// "deleted": a removed account is kept, so that the refunds made through
// it can still be read and settled.
func handleRemoveGatewayAccount(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "gateway account")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		a, err := eng.RemoveGatewayAccount(r.Context(), merchantID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderAccount(a))
	})
}

func handleListGatewayAccountDeliveries(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		id, err := idParam(r, "gateway account")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ds, more, err := eng.GatewayAccountDeliveries(r.Context(), merchantID, id, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, ds, renderDelivery, more, "/v1/gateway_accounts/"+id+"/deliveries")
	})
}

// pageOf is one page of a short list held whole in memory (a merchant's
// accounts), cut as the stores cut theirs: starting_after gives the
// items after that id, ending_before those before it, and more says
// whether the list goes on in that direction. An id not in the list
// gives an empty page, as a cursor of a removed object does elsewhere.
func pageOf[T any](items []T, id func(T) string, p refundry.Page) ([]T, bool) {
	switch {
	case p.StartingAfter != "":
		i := slices.IndexFunc(items, func(it T) bool { return id(it) == p.StartingAfter })
		if i < 0 {
			return nil, false
		}
		items = items[i+1:]
	case p.EndingBefore != "":
		i := slices.IndexFunc(items, func(it T) bool { return id(it) == p.EndingBefore })
		if i < 0 {
			return nil, false
		}
		items = items[:i]
		if len(items) > p.Limit {
			return items[len(items)-p.Limit:], true
		}
		return items, false
	}
	if len(items) > p.Limit {
		return items[:p.Limit], true
	}
	return items, false
}
