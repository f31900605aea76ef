package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type personRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type referralRequest struct {
	Origin      string        `json:"origin"`
	CampaignID  json.Number   `json:"campaign_id"`
	OfferID     json.Number   `json:"offer_id"`
	Advocate    personRequest `json:"advocate"`
	Friend      personRequest `json:"friend"`
	TrackMethod string        `json:"track_method"`
	Status      string        `json:"status"`
	AdRewarded  bool          `json:"ad_rewarded"`
	QAGenerated bool          `json:"qa_generated"`
	Subtotal    json.Number   `json:"subtotal"`
}

func handleCreateReferral(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		var req referralRequest
		idem, err := readJSON(w, r, &req)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		ref := &refundry.Referral{
			MerchantID: m.ID, OriginSlug: req.Origin, TrackMethod: req.TrackMethod, Status: req.Status,
			AdRewarded: req.AdRewarded, QAGenerated: req.QAGenerated, Currency: m.Currency,
			Advocate: refundry.Person{Email: req.Advocate.Email, FirstName: req.Advocate.FirstName, LastName: req.Advocate.LastName},
			Friend:   refundry.Person{Email: req.Friend.Email, FirstName: req.Friend.FirstName, LastName: req.Friend.LastName},
		}
		for _, f := range []struct {
			n     json.Number
			param string
			dst   *int64
		}{{req.CampaignID, "campaign_id", &ref.CampaignID}, {req.OfferID, "offer_id", &ref.OfferID}, {req.Subtotal, "subtotal", &ref.Subtotal}} {
			if *f.dst, err = wholeNumber(f.n, f.param, 0); err != nil {
				Error(w, r, logger, err)
				return
			}
		}
		replayed, err := eng.CreateReferral(r.Context(), ref, idem)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		edge.WriteJSON(w, http.StatusCreated, renderReferral(ref))
	})
}
