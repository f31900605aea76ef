package api

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// handleListEvents lists events newest first; type takes one type or a
// comma-separated list, and a trailing ".*" takes a whole family
// ("refund.*").
func handleListEvents(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, page, err := listQuery(r, "type", "object")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.EventFilter{Page: page, ObjectID: q.Get("object")}
		if t := q.Get("type"); t != "" {
			for _, want := range strings.Split(t, ",") {
				n := len(f.Types)
				for _, known := range refundry.EventTypes {
					if known == want || (strings.HasSuffix(want, ".*") && strings.HasPrefix(known, strings.TrimSuffix(want, "*"))) {
						f.Types = append(f.Types, known)
					}
				}
				if len(f.Types) == n {
					Error(w, r, logger, paramInvalid("type", "Unknown event type "+want+"; known: "+strings.Join(refundry.EventTypes, ", ")+"."))
					return
				}
			}
			slices.Sort(f.Types)
			f.Types = slices.Compact(f.Types)
		}
		events, more, err := eng.ListEvents(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, events, renderEvent, more, "/v1/events")
	})
}
