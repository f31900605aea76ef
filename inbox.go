package refundry

import (
	"strings"
	"unicode/utf8"
)

// OutcomeMalformed is the outcome of a stored event its gateway's parser
// cannot read (its signature was good, its body is not an event Refundry
// understands): kept, never applied, counted.
const OutcomeMalformed = "malformed"

// Limits of an inbound event's identity, which gateways keep short.
const (
	maxEventIDLength   = 255
	maxEventTypeLength = 255
)

// Validate checks what the inbox keys and sorts an event by. Returns
// EINVALID.
func (ev *GatewayEvent) Validate() error {
	if ev.Gateway == "" {
		return ParamErrorf(EINVALID, "gateway", "The event names no gateway.")
	}
	if ev.EventID == "" || len(ev.EventID) > maxEventIDLength || !utf8.ValidString(ev.EventID) {
		return ParamErrorf(EINVALID, "id", "The event's id must be 1 to %d bytes of text.", maxEventIDLength)
	}
	if ev.Type == "" || len(ev.Type) > maxEventTypeLength || !utf8.ValidString(ev.Type) {
		return ParamErrorf(EINVALID, "type", "The event's type must be 1 to %d bytes of text.", maxEventTypeLength)
	}
	return nil
}

// outcomeRank orders outcomes by what an operator must know first: a
// refusal or a payment no merchant has, then what changed the ledger,
// then what changed nothing.
var outcomeRank = map[string]int{
	OutcomeRefused:       0,
	OutcomeUnknownCharge: 1,
	OutcomeCorrected:     2,
	OutcomeAdopted:       3,
	OutcomeSettled:       4,
	OutcomeDispute:       5,
	OutcomeMatched:       6,
	OutcomeIgnored:       7,
}

// EventOutcome is what one inbound event did, from the results of
// applying its reports: the outcome that matters most among them
// (OutcomeIgnored for an event that made no report), the merchant it
// concerned, and the reasons given, joined.
func EventOutcome(results []*ReportResult) (outcome, merchantID, detail string) {
	outcome = OutcomeIgnored
	best := outcomeRank[OutcomeIgnored] + 1
	var details []string
	for _, r := range results {
		if r == nil {
			continue
		}
		rank, ok := outcomeRank[r.Outcome]
		if !ok {
			rank = -1 // an outcome this table does not know is shown, not hidden
		}
		if rank < best {
			outcome, best = r.Outcome, rank
		}
		if merchantID == "" {
			merchantID = r.MerchantID
		}
		if r.Detail != "" {
			details = append(details, r.Detail)
		}
	}
	return outcome, merchantID, strings.Join(details, " ")
}
