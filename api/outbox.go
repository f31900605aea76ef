package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// EventJSON is the body of a webhook: the event exactly as GET /v1/events
// lists it, so a consumer parses one shape whichever way it reads events.
func EventJSON(e *refundry.Event) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(renderEvent(e)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

type endpointJSON struct {
	ID             string   `json:"id"`
	Object         string   `json:"object"`
	URL            string   `json:"url"`
	EnabledEvents  []string `json:"enabled_events"`
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabled_reason"`
	Secret         string   `json:"secret,omitempty"` // on creation only
	Created        int64    `json:"created"`
	Updated        int64    `json:"updated"`
}

func renderEndpoint(e *refundry.WebhookEndpoint) endpointJSON {
	return endpointJSON{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, EnabledEvents: e.EnabledEvents, Status: e.Status,
		DisabledReason: nullable(e.DisabledReason), Created: unix(e.Created), Updated: unix(e.Updated)}
}

type deliveryJSON struct {
	ID           string        `json:"id"`
	Object       string        `json:"object"`
	Endpoint     string        `json:"webhook_endpoint"`
	Event        string        `json:"event"`
	EventType    string        `json:"event_type"`
	ObjectID     string        `json:"object_id"`
	Status       string        `json:"status"`
	AttemptCount int           `json:"attempt_count"`
	NextAttempt  *int64        `json:"next_attempt"`
	DeliveredAt  *int64        `json:"delivered_at"`
	Attempts     []attemptJSON `json:"attempts"`
	Created      int64         `json:"created"`
}

type attemptJSON struct {
	ID         string  `json:"id"`
	StatusCode *int    `json:"status_code"`
	LatencyMS  int64   `json:"latency_ms"`
	Response   string  `json:"response"`
	Error      *string `json:"error"`
	Created    int64   `json:"created"`
}

func renderDelivery(d *refundry.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Object: "webhook_delivery", Endpoint: d.EndpointID, Event: d.EventID, EventType: d.EventType,
		ObjectID: d.ObjectID, Status: d.Status, AttemptCount: d.Attempts, Attempts: []attemptJSON{}, Created: unix(d.Created)}
	if d.Status == refundry.DeliveryPending {
		out.NextAttempt = unixPtr(d.NextAttempt)
	}
	out.DeliveredAt = unixPtr(d.DeliveredAt)
	for _, a := range d.History {
		aj := attemptJSON{ID: a.ID, LatencyMS: a.LatencyMS, Response: a.Response, Error: nullable(a.Error), Created: unix(a.Created)}
		if a.StatusCode != 0 {
			aj.StatusCode = &a.StatusCode
		}
		out.Attempts = append(out.Attempts, aj)
	}
	return out
}

type notificationJSON struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Refund        string  `json:"refund"`
	Sale          string  `json:"sale"`
	To            string  `json:"to"`
	Amount        int64   `json:"amount"`
	Currency      string  `json:"currency"`
	SaleReference *string `json:"sale_reference"`
	MerchantName  string  `json:"merchant_name"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	LastError     *string `json:"last_error"`
	SentAt        *int64  `json:"sent_at"`
	Created       int64   `json:"created"`
}

func renderNotification(n *refundry.Notification) notificationJSON {
	return notificationJSON{ID: n.ID, Object: "notification", Refund: n.RefundID, Sale: n.SaleID, To: n.To, Amount: n.Amount,
		Currency: n.Currency, SaleReference: nullable(n.SaleReference), MerchantName: n.MerchantName, Status: n.Status,
		Attempts: n.Attempts, LastError: nullable(n.LastError), SentAt: unixPtr(n.SentAt), Created: unix(n.Created)}
}

func unixPtr(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.Unix()
	return &n
}

// withMerchant runs h with the id of the request's merchant.
func withMerchant(h func(w http.ResponseWriter, r *http.Request, merchantID string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, edge.MerchantFrom(r.Context()).ID)
	})
}

func handleCreateWebhookEndpoint(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var in struct {
			URL           string   `json:"url"`
			EnabledEvents []string `json:"enabled_events"`
		}
		if err := DecodeStrict(body, &in); err != nil {
			Error(w, r, logger, err)
			return
		}
		ep := &refundry.WebhookEndpoint{MerchantID: edge.MerchantFrom(r.Context()).ID, URL: in.URL, EnabledEvents: in.EnabledEvents}
		if err := eng.CreateWebhookEndpoint(r.Context(), ep); err != nil {
			Error(w, r, logger, err)
			return
		}
		out := renderEndpoint(ep)
		out.Secret = ep.Secret // shown this once
		// 201 like every other create of the native API (sales, refunds,
		// referrals), so a client tells creation apart the same way.
		edge.WriteJSON(w, http.StatusCreated, out)
	})
}

func handleListWebhookEndpoints(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		es, more, err := eng.ListWebhookEndpoints(r.Context(), merchantID, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, es, renderEndpoint, more, "/v1/webhook_endpoints")
	})
}

func handleGetWebhookEndpoint(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		id, err := idParam(r, "webhook endpoint")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		e, err := eng.FindWebhookEndpoint(r.Context(), merchantID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderEndpoint(e))
	})
}

func handleDeleteWebhookEndpoint(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "webhook endpoint")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if err := eng.DeleteWebhookEndpoint(r.Context(), merchantID, id); err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
	})
}

func handleEnableWebhookEndpoint(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "webhook endpoint")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		e, err := eng.EnableWebhookEndpoint(r.Context(), merchantID, id)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderEndpoint(e))
	})
}

func handleListDeliveries(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		id, err := idParam(r, "webhook endpoint")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		_, page, err := listQuery(r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ds, more, err := eng.ListDeliveries(r.Context(), merchantID, id, page)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, ds, renderDelivery, more, "/v1/webhook_endpoints/"+id+"/deliveries")
	})
}

func handleReplayDelivery(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		if err := ReadEmpty(w, r); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "webhook endpoint")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		did := r.PathValue("delivery_id")
		if !refundry.ValidID(did) {
			Error(w, r, logger, refundry.Errorf(refundry.ENOTFOUND, "No such delivery: '%s'", truncateID(did)))
			return
		}
		d, err := eng.ReplayDelivery(r.Context(), merchantID, id, did)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderDelivery(d))
	})
}

func handleListNotifications(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return withMerchant(func(w http.ResponseWriter, r *http.Request, merchantID string) {
		q, page, err := listQuery(r, "status")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.NotificationFilter{Page: page, Status: q.Get("status")}
		switch f.Status {
		case "", refundry.NotificationUnsent, refundry.NotificationSent, refundry.NotificationFailed:
		default:
			Error(w, r, logger, paramInvalid("status", "Status must be unsent, sent or failed."))
			return
		}
		ns, more, err := eng.ListNotifications(r.Context(), merchantID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, ns, renderNotification, more, "/v1/notifications")
	})
}
