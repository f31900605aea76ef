package main

import (
	"context"
	"fmt"
	"io"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
)

const demoSlug = "demo-store"

// demoKeyName names the keys serve --demo makes. Each start revokes those
// of earlier starts: a restart prints a key that works and leaves no
// forgotten one behind. Keys of other names are the user's and are kept.
const demoKeyName = "demo"

// seedDemo makes the demo merchant and its sample data the first time. On
// every start it replaces the demo key (keys are kept only as hashes, so
// an old one cannot be shown again) and prints the new one with requests
// that work: a restart first adds fresh copies of the sales they refund
// (B00K2EOONI-2, JP-1001-2, ...), since the previous start's requests may
// have refunded the originals in full.
func seedDemo(ctx context.Context, eng *engine.Engine, base string, out io.Writer) error {
	suffix := ""
	m, err := eng.FindMerchantBySlug(ctx, demoSlug)
	switch refundry.ErrorCode(err) {
	case refundry.ENOTFOUND:
		m = &refundry.Merchant{Slug: demoSlug, Name: "Demo Store", Currency: "USD"}
		first, err := eng.CreateMerchant(ctx, m)
		if err != nil {
			return err
		}
		// The merchant's first key is never shown: the demo key below
		// is the one printed, and the only one a restart replaces.
		id, _, _ := refundry.ParseAPIKey(first)
		if _, err := eng.RevokeAPIKey(ctx, m.ID, id); err != nil {
			return err
		}
		if err := seedDemoData(ctx, eng, m, "", demoSales); err != nil {
			return err
		}
	case "":
		if suffix, err = nextDemoSuffix(ctx, eng, m); err != nil {
			return err
		}
		if err := seedDemoData(ctx, eng, m, suffix, demoSales[:3]); err != nil {
			return err
		}
	default:
		return err
	}
	key, err := rotateDemoKey(ctx, eng, m)
	if err != nil {
		return err
	}
	book, err := eng.FindSale(ctx, m.ID, refundry.SaleLookup{Reference: "B00K2EOONI" + suffix})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Demo merchant %s is ready. Its API key (a new one at each start, which revokes the last):\n\n  export REFUNDRY_KEY=%s\n\n", demoSlug, key)
	fmt.Fprintln(out, "Requests that work on the demo data, one per API, in this order:")
	for _, r := range demoRequests(base, book, suffix) {
		fmt.Fprintf(out, "\n# %s\n%s\n", r.title, r.curl)
	}
	fmt.Fprintln(out)
	return nil
}

// nextDemoSuffix is the suffix of this start's copies of the sample
// sales: "-2" at the second start, "-3" at the third, ...
func nextDemoSuffix(ctx context.Context, eng *engine.Engine, m *refundry.Merchant) (string, error) {
	for n := 2; ; n++ {
		suffix := fmt.Sprintf("-%d", n)
		_, err := eng.FindSale(ctx, m.ID, refundry.SaleLookup{Reference: "B00K2EOONI" + suffix})
		switch refundry.ErrorCode(err) {
		case refundry.ENOTFOUND:
			return suffix, nil
		case "":
		default:
			return "", err
		}
	}
}

// rotateDemoKey makes a new demo key, then revokes every other live one:
// in this order, so a failure half-way still leaves a key that works.
func rotateDemoKey(ctx context.Context, eng *engine.Engine, m *refundry.Merchant) (string, error) {
	fresh, text, err := eng.CreateAPIKey(ctx, m.ID, engine.KeySpec{Name: demoKeyName})
	if err != nil {
		return "", err
	}
	var old []string
	page := refundry.Page{Limit: refundry.MaxPageLimit}
	for {
		keys, more, err := eng.ListAPIKeys(ctx, m.ID, page)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if k.Name == demoKeyName && k.ID != fresh.ID && k.Revoked.IsZero() {
				old = append(old, k.ID)
			}
		}
		if !more || len(keys) == 0 {
			break
		}
		page.StartingAfter = keys[len(keys)-1].ID
	}
	for _, id := range old {
		if _, err := eng.RevokeAPIKey(ctx, m.ID, id); err != nil {
			return "", err
		}
	}
	return text, nil
}

type demoRequest struct{ title, curl string }

// demoRequests are ready-to-paste requests, one per API, on the sample
// sales of this start (suffix as seedDemo). Run in order they all
// succeed: the native, RevCent and Jetti ones refund parts of order
// B00K2EOONI, and Talkable's refunds what is left of it last.
func demoRequests(base string, book *refundry.Sale, suffix string) []demoRequest {
	order, jp, kw := book.Reference, "JP-1001"+suffix, "pay-kw-2001"+suffix
	auth := `-H "Authorization: Bearer $REFUNDRY_KEY" -H "Content-Type: application/json"`
	return []demoRequest{
		{"Native: refund 5.00 USD of order " + order,
			fmt.Sprintf(`curl -s %s/v1/refunds %s -d '{"sale": "%s", "amount": 500, "reason": "requested_by_customer"}'`, base, auth, book.ID)},
		{"Native: list that order's refunds",
			fmt.Sprintf(`curl -s "%s/v1/refunds?sale=%s" -H "Authorization: Bearer $REFUNDRY_KEY"`, base, book.ID)},
		{"RevCent: refund 12.50 of the order's Widgets (a product sale)",
			fmt.Sprintf(`curl -s -X POST %s/v2/product_sales/%s/refund -H "X-API-Key: $REFUNDRY_KEY" -H "Content-Type: application/json" -d '{"amount": 12.5}'`, base, book.LineItems[0].ID)},
		{"Jetti: refund 5.00 of the order's transaction, by its number",
			fmt.Sprintf(`curl -s -X PUT %s/v1/transactions/%d/refund.json %s -d '{"refundAmount": 5}'`, base, book.Transactions[0].Number, auth)},
		{"Payop: refund 1.234 KWD of the payment " + kw,
			fmt.Sprintf(`curl -s -X POST %s/v1/refunds/create %s -d '{"transactionIdentifier": "%s", "refundType": 2, "amount": 1.234, "metadata": {"ticket": "T-1"}}'`, base, auth, kw)},
		{"KeepUp: refund all of order " + jp + " and alert the customer",
			fmt.Sprintf(`curl -s -X PUT %s/v2.0/sales/refund/%s %s -d '{"alert_customer": "yes"}'`, base, jp, auth)},
		{"Talkable: refund the rest of order " + order + " and void its referral",
			fmt.Sprintf(`curl -s -X POST -u "$REFUNDRY_KEY:" -H "Content-Type: application/json" -d '{"site_slug": "%s"}' %s/api/v2/origins/%s/refund`, demoSlug, base, order)},
	}
}

type demoSale struct {
	ref, currency, email, payRef string
	items                        [][2]int64 // quantity, unit amount
	names                        []string
}

// demoSales is the sample data: payment references choose the simulator's
// behaviour (see gateway/simulator), so every path of a refund can be
// tried. The first three are what the printed requests refund.
var demoSales = []demoSale{
	{"B00K2EOONI", "USD", "customer@example.com", "d839c714-7743-47cf-8f9d-73592597c6e1", [][2]int64{{2, 1250}, {1, 500}}, []string{"Widget", "Shipping"}},
	{"JP-1001", "JPY", "hanako@example.com", "pay-jp-1001", [][2]int64{{1, 4500}, {2, 500}}, []string{"Tote bag", "Stickers"}},
	{"KW-2001", "KWD", "layla@example.com", "pay-kw-2001", [][2]int64{{1, 12345}}, []string{"Headphones"}},
	{"DECLINE-1", "USD", "dan@example.com", "sim_fail_demo", [][2]int64{{1, 9900}}, []string{"Jacket"}},
	{"SLOW-1", "USD", "sam@example.com", "sim_pending_30s_demo", [][2]int64{{3, 700}}, []string{"Socks"}},
}

// seedDemoData creates sales, each with suffix after its reference and
// its payment's, and the referrals on them. Without a suffix it is the
// first start, which also records the event origin's referral.
func seedDemoData(ctx context.Context, eng *engine.Engine, m *refundry.Merchant, suffix string, sales []demoSale) error {
	for _, d := range sales {
		s := &refundry.Sale{MerchantID: m.ID, Reference: d.ref + suffix, Currency: d.currency,
			Customer:     refundry.Customer{Email: d.email},
			Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: d.payRef + suffix}}}
		if d.ref == "B00K2EOONI" {
			s.CampaignID, s.CampaignName = "cmp_spring_2026_0001", "Spring"
			s.Customer.FirstName, s.Customer.LastName = "Ann", "Lee"
		}
		for i, it := range d.items {
			li := &refundry.LineItem{Name: d.names[i], Quantity: it[0], UnitAmount: it[1]}
			if li.Name == "Shipping" {
				// So the dashboard's refund form offers the shipping.
				li.Kind = refundry.LineShipping
			}
			s.LineItems = append(s.LineItems, li)
		}
		if _, err := eng.CreateSale(ctx, s, nil); err != nil {
			return err
		}
		if d.ref == "JP-1001" {
			amount := int64(500)
			if _, err := eng.Refund(ctx, refundry.RefundRequest{MerchantID: m.ID, Target: refundry.RefundTarget{LineItemID: s.LineItems[1].ID},
				Amount: &amount, Reason: "damaged", Source: refundry.SourceNative}); err != nil {
				return err
			}
		}
	}
	referrals := []*refundry.Referral{
		{OriginSlug: "B00K2EOONI" + suffix, CampaignID: 196, OfferID: 867, TrackMethod: "coupon", AdRewarded: true,
			Advocate: refundry.Person{Email: "customer@example.com"}, Friend: refundry.Person{Email: "friend@example.com"}},
	}
	if suffix == "" {
		referrals = append(referrals, &refundry.Referral{OriginSlug: "newsletter_subscription:42", CampaignID: 196, OfferID: 868, TrackMethod: "link",
			Advocate: refundry.Person{Email: "customer@example.com"}, Friend: refundry.Person{Email: "reader@example.com"}})
	}
	for _, r := range referrals {
		r.MerchantID, r.Currency = m.ID, m.Currency
		if _, err := eng.CreateReferral(ctx, r, nil); err != nil {
			return err
		}
	}
	return nil
}
