package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// Refund controls on the native API: the merchant's refund policy, the
// approval of refunds held for it, and the resolution of refunds in
// manual review. The rules are refundry's (control.go) and the engine's;
// this file reads the wire and writes it.

// policyJSON is a merchant's refund policy. A rule that is not set is
// null; no threshold is {} and no source limit [].
type policyJSON struct {
	Object              string           `json:"object"`
	MaxAgeDays          *int64           `json:"max_age_days"`
	MaxRefundsPerSale   *int64           `json:"max_refunds_per_sale"`
	ApprovalThreshold   map[string]int64 `json:"approval_threshold"`
	ApprovalForSources  []string         `json:"approval_for_sources"`
	ApprovalExpiryHours *int64           `json:"approval_expiry_hours"`
	Updated             *int64           `json:"updated"`
}

func renderPolicy(p *refundry.RefundPolicy) policyJSON {
	out := policyJSON{Object: "refund_policy", MaxAgeDays: p.MaxAgeDays, MaxRefundsPerSale: p.MaxRefundsPerSale,
		ApprovalThreshold: map[string]int64{}, ApprovalForSources: []string{}, ApprovalExpiryHours: p.ApprovalExpiryHours,
		Updated: optUnix(p.Updated)}
	for cur, v := range p.ApprovalThreshold {
		out.ApprovalThreshold[cur] = v
	}
	out.ApprovalForSources = append(out.ApprovalForSources, p.ApprovalForSources...)
	return out
}

// policyRequest is the body of POST /v1/refund_policy as its forms are
// checked: every field known, every number a JSON number. Which fields
// the body names, and which it names null, is read apart (policyChange),
// since a field left out and a null mean different things.
type policyRequest struct {
	MaxAgeDays          json.Number            `json:"max_age_days"`
	MaxRefundsPerSale   json.Number            `json:"max_refunds_per_sale"`
	ApprovalThreshold   map[string]json.Number `json:"approval_threshold"`
	ApprovalForSources  []string               `json:"approval_for_sources"`
	ApprovalExpiryHours json.Number            `json:"approval_expiry_hours"`
}

// policyChange reads POST /v1/refund_policy's body: a field left out is
// unchanged, null removes the rule, a number must be a JSON integer (2.5,
// 1e3 and "3" are refused, naming the field). Whether a value is a rule
// at all (days below 1, an unknown currency) is RefundPolicy.Apply's to
// say.
func policyChange(body []byte) (refundry.PolicyChange, error) {
	var c refundry.PolicyChange
	var in policyRequest
	if err := DecodeStrict(body, &in); err != nil {
		return c, err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(body, &present); err != nil {
		return c, paramInvalid("", "Request body must be a JSON object.")
	}
	isNull := func(name string) bool { return string(bytes.TrimSpace(present[name])) == "null" }
	var err error
	for _, f := range []struct {
		name string
		n    json.Number
		dst  *refundry.Change[int64]
	}{
		{"max_age_days", in.MaxAgeDays, &c.MaxAgeDays},
		{"max_refunds_per_sale", in.MaxRefundsPerSale, &c.MaxRefundsPerSale},
		{"approval_expiry_hours", in.ApprovalExpiryHours, &c.ApprovalExpiryHours},
	} {
		if _, ok := present[f.name]; !ok {
			continue
		}
		f.dst.Set = true
		if isNull(f.name) {
			continue
		}
		if f.dst.Value, err = policyInt(f.name, f.n); err != nil {
			return c, err
		}
	}
	if _, ok := present["approval_threshold"]; ok {
		c.ApprovalThreshold.Set = true
		if !isNull("approval_threshold") {
			m := map[string]*int64{}
			for cur, n := range in.ApprovalThreshold {
				m[cur] = nil // null: remove this currency
				if n == "" {
					continue
				}
				if m[cur], err = policyInt("approval_threshold."+cur, n); err != nil {
					return c, err
				}
			}
			c.ApprovalThreshold.Value = &m
		}
	}
	if _, ok := present["approval_for_sources"]; ok {
		c.ApprovalForSources.Set = true
		if !isNull("approval_for_sources") {
			srcs := slices.Clone(in.ApprovalForSources)
			if srcs == nil {
				srcs = []string{}
			}
			c.ApprovalForSources.Value = &srcs
		}
	}
	return c, nil
}

// policyInt reads a JSON number that must be an integer: 2.5 and 1e3
// are numbers, but not the whole numbers a rule counts in.
func policyInt(param string, n json.Number) (*int64, error) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return nil, paramInvalid(param, fmt.Sprintf("%s is out of range.", param))
	}
	if err != nil {
		return nil, paramInvalid(param, fmt.Sprintf("%s must be an integer, or null, not %s.", param, truncateID(string(n))))
	}
	return &v, nil
}

func handleGetRefundPolicy(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := listQuery(r); err != nil {
			Error(w, r, logger, err)
			return
		}
		p, err := eng.RefundPolicy(r.Context(), edge.MerchantFrom(r.Context()).ID)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderPolicy(p))
	})
}

// handleSetRefundPolicy changes the rules the body names and answers the
// whole policy. Sending the same body again makes the same policy, so it
// is safe to retry without an Idempotency-Key.
func handleSetRefundPolicy(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		c, err := policyChange(body)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		p, err := eng.SetRefundPolicy(r.Context(), edge.MerchantFrom(r.Context()).ID, c)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderPolicy(p))
	})
}

// checkNote refuses a note the audit log and the refund cannot keep as
// given: one with a NUL character, or longer than a description.
func checkNote(note string) error {
	switch {
	case strings.IndexByte(note, 0) >= 0:
		return paramInvalid("note", "Parameter note must be text without NUL characters.")
	case len(note) > refundry.MaxDescription:
		return paramInvalid("note", fmt.Sprintf("Parameter note must be at most %d bytes.", refundry.MaxDescription))
	}
	return nil
}

// readNote reads the optional body of an approval or a rejection: none,
// {}, or {"note": "why"}.
func readNote(w http.ResponseWriter, r *http.Request) (string, error) {
	body, err := edge.ReadBody(w, r, MaxBody)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return "", err
	}
	var in struct {
		Note string `json:"note"`
	}
	if err := DecodeStrict(body, &in); err != nil {
		return "", err
	}
	return in.Note, checkNote(in.Note)
}

// handleDecideRefund approves or rejects (decide) a refund held for
// approval and answers it. A decision is made once: a retry, with or
// without the same Idempotency-Key, is answered 409 saying what the
// refund became, and never sends it to its gateway twice.
func handleDecideRefund(decide func(ctx context.Context, merchantID, id, note string) (*refundry.Refund, error), logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note, err := readNote(w, r)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "refund")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		rf, err := decide(r.Context(), edge.MerchantFrom(r.Context()).ID, id, note)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderRefund(rf))
	})
}

func handleApproveRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return handleDecideRefund(eng.Approve, logger)
}

func handleRejectRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return handleDecideRefund(eng.Reject, logger)
}

// handleResolveRefund decides a refund in manual review: succeeded (with
// the gateway's reference), failed, or retry; the note is required. Like
// an approval it is made once, a retry answered 409.
func handleResolveRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := edge.ReadBody(w, r, MaxBody)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		var in struct {
			Outcome         string `json:"outcome"`
			GatewayRefundID string `json:"gateway_refund_id"`
			Note            string `json:"note"`
		}
		if err := DecodeStrict(body, &in); err != nil {
			Error(w, r, logger, err)
			return
		}
		id, err := idParam(r, "refund")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		res := refundry.Resolution{Outcome: in.Outcome, GatewayRefundID: in.GatewayRefundID, Note: in.Note}
		rf, err := eng.Resolve(r.Context(), edge.MerchantFrom(r.Context()).ID, id, res)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderRefund(rf))
	})
}
