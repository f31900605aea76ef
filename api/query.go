package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/refundry/refundry"
)

// listQuery reads a list route's query: the pagination parameters and the
// filters the route allows; any other parameter is refused by name.
func listQuery(r *http.Request, filters ...string) (url.Values, refundry.Page, error) {
	q := r.URL.Query()
	allowed := map[string]bool{"limit": true, "starting_after": true, "ending_before": true}
	for _, f := range filters {
		allowed[f] = true
	}
	for k, vs := range q {
		if !allowed[k] {
			return nil, refundry.Page{}, paramUnknown(k)
		}
		// ?limit=1&limit=500 means one thing to a cache or a proxy that
		// reads the last and another to Get, which reads the first.
		if len(vs) > 1 {
			return nil, refundry.Page{}, paramInvalid(k, "Parameter "+k+" is given more than once.")
		}
	}
	var p refundry.Page
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, p, paramInvalid("limit", "Limit must be a whole number between 1 and 100.")
		}
		p.Limit = n
	}
	p.StartingAfter, p.EndingBefore = q.Get("starting_after"), q.Get("ending_before")
	if bad, ok := malformedID(namedID{"starting_after", p.StartingAfter}, namedID{"ending_before", p.EndingBefore}); ok {
		return nil, p, paramInvalid(bad.name, "Parameter "+bad.name+" must be an object id.")
	}
	if err := p.Normalize(); err != nil {
		return nil, p, err
	}
	return q, p, nil
}

// unixParam reads an optional unix-seconds time.
func unixParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return time.Time{}, paramInvalid(name, "Parameter "+name+" must be a unix time in seconds.")
	}
	return time.Unix(n, 0).UTC(), nil
}

// idParam reads a path id; a malformed id is answered like a missing
// object, as Stripe does.
func idParam(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		return "", refundry.Errorf(refundry.ENOTFOUND, "No such %s: '%s'", what, truncateID(id))
	}
	return id, nil
}

// namedID is a parameter naming an object by id.
type namedID struct{ name, id string }

// malformedID returns the first of ps, in the order given, whose id is
// set but cannot be an object's: a request with several malformed ids is
// always answered about the same one.
func malformedID(ps ...namedID) (namedID, bool) {
	for _, p := range ps {
		if p.id != "" && !refundry.ValidID(p.id) {
			return p, true
		}
	}
	return namedID{}, false
}

func truncateID(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
