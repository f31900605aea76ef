package web

import (
	"net/http"

	"github.com/refundry/refundry"
)

// mismatchAdvice says, for each kind of mismatch a reconciliation run
// cannot resolve by itself, what a person should do about it.
var mismatchAdvice = map[string]string{
	refundry.MismatchMissingAtGateway: "The ledger has a refund the gateway does not list for this payment. Look the refund up in the gateway's dashboard; if the gateway never made it, the money did not move.",
	refundry.MismatchAmount:           "The ledger and the gateway have this refund with different amounts. The gateway's amount is what moved; compare both and correct the books by hand.",
	refundry.MismatchStatus:           "The gateway reports a status the ledger cannot take (a refund moving backwards). Check the refund at the gateway; the ledger keeps its status until then.",
	refundry.MismatchUnreachable:      "The gateway could not be asked about this payment. The next run asks again; if it keeps failing, check the gateway's credentials and status.",
}

type runsData struct {
	Runs  []*refundry.ReconciliationRun
	Pager pager
	Error string
}

// handleRuns lists the merchant's reconciliation runs, newest first.
func (d *dashboard) handleRuns(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := listForm{after: q.Get("after"), before: q.Get("before")}
	var data runsData
	status := http.StatusOK
	if (f.after != "" && !refundry.ValidID(f.after)) || (f.before != "" && !refundry.ValidID(f.before)) {
		data.Error, status = "The page link is malformed; start again from the first page.", http.StatusBadRequest
	} else {
		m := s.merchant.ID
		var err error
		data.Runs, data.Pager, err = storePage(f, basePath+"/reconciliation", func(run *refundry.ReconciliationRun) string { return run.ID },
			func(p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
				return d.eng.ListReconciliationRuns(r.Context(), m, p)
			})
		if err != nil {
			d.renderDomainError(w, r, s, err)
			return
		}
	}
	p := page{Title: "Reconciliation", Nav: "reconciliation", Data: data}
	p.fill(r, s)
	d.render(w, r, status, "runs", p)
}

type mismatchRow struct {
	refundry.Mismatch
	Advice string
}

type runData struct {
	Run        *refundry.ReconciliationRun
	Mismatches []mismatchRow
}

// handleRun shows one run: its counts and every mismatch, each with links
// to its sale and refund and what to do about it.
func (d *dashboard) handleRun(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if !refundry.ValidID(id) {
		d.renderError(w, r, s, http.StatusNotFound, "No such reconciliation run.")
		return
	}
	run, err := d.eng.FindReconciliationRun(r.Context(), s.merchant.ID, id)
	if err != nil {
		d.renderDomainError(w, r, s, err)
		return
	}
	data := runData{Run: run}
	for _, m := range run.Mismatches {
		data.Mismatches = append(data.Mismatches, mismatchRow{m, mismatchAdvice[m.Kind]})
	}
	p := page{Title: "Reconciliation run " + run.ID, Nav: "reconciliation", Data: data}
	p.fill(r, s)
	d.render(w, r, http.StatusOK, "run", p)
}
