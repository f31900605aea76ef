package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/refundry/refundry"
)

// CreateSale stores a sale with its customer, line items and transactions.
func (s *Store) CreateSale(ctx context.Context, sale *refundry.Sale, idem *refundry.Idempotency) (replayed bool, err error) {
	// Validate again, though the caller did: it derives the amounts that
	// invariant 2 bounds, and costs nothing.
	if err := sale.Validate(); err != nil {
		return false, err
	}
	// Work on a copy, so that a failed transaction leaves the caller's sale
	// without half-assigned ids.
	var out *refundry.Sale
	// Grouped like a refund: a burst of sales (a shop's checkout, bench's
	// first phase) shares commits instead of paying an fsync each. A run
	// may be repeated (runBatch), so each starts from a fresh copy.
	ctx = s.writeContext(ctx)
	err = s.groupedKeeping(ctx, func(tx *tx) error {
		out, replayed = cloneSale(sale), false
		ids, err := seenKey(ctx, tx, sale.MerchantID, idem, resourceSale)
		if err != nil {
			return err
		}
		if ids != nil {
			stored, err := findSale(ctx, tx, sale.MerchantID, refundry.SaleLookup{ID: ids[0]})
			if err != nil {
				return err
			}
			out, replayed = stored, true
			return nil
		}
		if err := createSale(ctx, tx, out); err != nil {
			return err
		}
		// Its refunds, moments later as a rule, need not read it.
		if err := holdMadeSale(ctx, tx, out); err != nil {
			return err
		}
		if err := audit(ctx, tx, sale.MerchantID, refundry.AuditSaleCreate, out.ID); err != nil {
			return err
		}
		return recordKey(ctx, tx, sale.MerchantID, idem, resourceSale, []string{out.ID}, nil)
	})
	if err != nil {
		return false, err
	}
	*sale = *out
	return replayed, nil
}

// A reference is looked up with "reference <> ”" spelled out: the unique
// indexes on references are partial (empty ones are not unique), and SQLite
// uses a partial index only for a query that repeats its condition.
// Without it, the lookup that every new sale makes walks all of the
// merchant's sales, or every payment, and a sale costs more the more there
// are.
const (
	saleReferenceTaken    = `SELECT 1 FROM sales WHERE merchant_id = ? AND reference = ? AND reference <> ''`
	paymentReferenceTaken = `SELECT 1 FROM transactions WHERE merchant_id = ? AND reference = ? AND reference <> ''`
)

func createSale(ctx context.Context, tx *tx, s *refundry.Sale) error {
	if s.Reference != "" {
		if taken, err := exists(ctx, tx, saleReferenceTaken, s.MerchantID, s.Reference); err != nil {
			return err
		} else if taken {
			return refundry.ParamErrorf(refundry.ECONFLICT, "reference", "A sale with reference %q already exists.", s.Reference)
		}
	}
	if err := findOrCreateCustomer(ctx, tx, s.MerchantID, &s.Customer); err != nil {
		return err
	}
	s.ID = refundry.NewID()
	s.Created = tx.now
	s.RefundedAmount = 0
	s.Status = refundry.PaymentPaid
	if _, err := tx.ExecContext(ctx, `INSERT INTO sales (id, merchant_id, reference, currency, amount, customer_id, campaign_id, campaign_name, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.MerchantID, s.Reference, s.Currency, s.Amount, s.Customer.ID, s.CampaignID, s.CampaignName, micros(s.Created)); err != nil {
		return err
	}
	for i, li := range s.LineItems {
		li.ID = refundry.NewID()
		li.SaleID = s.ID
		li.RefundedAmount = 0
		li.RefundedQuantity = 0
		if li.Kind == "" {
			li.Kind = refundry.LineProduct
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO line_items (id, sale_id, position, name, kind, quantity, unit_amount, tax_amount, amount, gateway_line_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			li.ID, s.ID, i, li.Name, li.Kind, li.Quantity, li.UnitAmount, li.TaxAmount, li.Amount, li.GatewayLineID); err != nil {
			return err
		}
	}
	for i, t := range s.Transactions {
		if t.Reference != "" {
			if taken, err := exists(ctx, tx, paymentReferenceTaken, s.MerchantID, t.Reference); err != nil {
				return err
			} else if taken {
				return refundry.ParamErrorf(refundry.ECONFLICT, "payments[].reference", "A payment with reference %q already exists.", t.Reference)
			}
		}
		t.ID = refundry.NewID()
		t.SaleID = s.ID
		t.Currency = s.Currency
		t.RefundedAmount = 0
		t.Status = refundry.PaymentPaid
		t.Created = tx.now
		if err := tx.QueryRowContext(ctx, `INSERT INTO transactions (id, merchant_id, sale_id, position, reference, gateway, gateway_charge_id,
			currency, amount, processing_fee, base_amount, base_currency, created, gateway_account)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING number`,
			t.ID, s.MerchantID, s.ID, i, t.Reference, t.Gateway, t.GatewayChargeID,
			t.Currency, t.Amount, t.ProcessingFee, t.BaseAmount, t.BaseCurrency, micros(t.Created), t.GatewayAccount).Scan(&t.Number); err != nil {
			return err
		}
	}
	return appendEvent(ctx, tx, s.MerchantID, refundry.EventSaleCreated, "sale", s.ID, s)
}

// findOrCreateCustomer fills c with the merchant's customer of that email,
// making one if there is none, and gives it the names c carries if it
// has any (Customer.Renamed decides). A customer without email is always
// new.
func findOrCreateCustomer(ctx context.Context, tx *tx, merchantID string, c *refundry.Customer) error {
	if c.Email != "" {
		var found refundry.Customer
		err := tx.QueryRowContext(ctx, `SELECT id, email, first_name, last_name FROM customers WHERE merchant_id = ? AND email = ?`,
			merchantID, c.Email).Scan(&found.ID, &found.Email, &found.FirstName, &found.LastName)
		if err == nil {
			renamed, changed := found.Renamed(*c)
			*c = renamed
			if !changed {
				return nil
			}
			// The customer's other sales carry the old names.
			tx.forgetSales()
			_, err = tx.ExecContext(ctx, `UPDATE customers SET first_name = ?, last_name = ? WHERE id = ?`, c.FirstName, c.LastName, c.ID)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	c.ID = refundry.NewID()
	_, err := tx.ExecContext(ctx, `INSERT INTO customers (id, merchant_id, email, first_name, last_name) VALUES (?, ?, ?, ?, ?)`,
		c.ID, merchantID, c.Email, c.FirstName, c.LastName)
	return err
}

// FindSale returns the sale with its line items and transactions.
func (s *Store) FindSale(ctx context.Context, merchantID string, by refundry.SaleLookup) (sale *refundry.Sale, err error) {
	err = s.readOne(ctx, func(tx *tx) error {
		sale, err = findSale(ctx, tx, merchantID, by)
		return err
	})
	return sale, err
}

const saleColumns = `SELECT s.id, s.merchant_id, s.reference, s.currency, s.amount, s.refunded_amount,
	s.campaign_id, s.campaign_name, s.created, c.id, c.email, c.first_name, c.last_name
	FROM sales s JOIN customers c ON c.id = s.customer_id`

// findSale loads one sale of the merchant and its parts. Every branch is
// scoped by merchant: another merchant's sale is not found, exactly like a
// missing one (invariant 5).
func findSale(ctx context.Context, tx *tx, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	var q query
	q.add("s.merchant_id = ?", merchantID)
	n := 0
	if by.ID != "" {
		q.add("s.id = ?", by.ID)
		n++
	}
	if by.Reference != "" {
		q.add("s.reference = ? AND s.reference <> ''", by.Reference)
		n++
	}
	if by.LineItemID != "" {
		q.add("s.id = (SELECT sale_id FROM line_items WHERE id = ?)", by.LineItemID)
		n++
	}
	if by.TransactionID != "" {
		q.add("s.id = (SELECT sale_id FROM transactions WHERE id = ?)", by.TransactionID)
		n++
	}
	if by.TransactionNumber != 0 {
		q.add("s.id = (SELECT sale_id FROM transactions WHERE number = ?)", by.TransactionNumber)
		n++
	}
	if by.TransactionReference != "" {
		q.add("s.id = (SELECT sale_id FROM transactions WHERE merchant_id = ? AND reference = ? AND reference <> '')", merchantID, by.TransactionReference)
		n++
	}
	if n != 1 {
		return nil, refundry.Errorf(refundry.EINVALID, "Look a sale up by exactly one of its identities.")
	}
	// One statement, not three: the sale, its lines and its payments come
	// as rows of one UNION, in one trip through the statement cache. A
	// refund reads its sale under the single writer's lock, so each
	// statement saved there is saved from the writer's serial work.
	target := `SELECT s.id FROM sales s` + q.sql()
	args := make([]any, 0, 3*len(q.args))
	for range 3 {
		args = append(args, q.args...)
	}
	// No ORDER BY: it would sort the UNION's rows in a temporary b-tree;
	// the few parts are put in their order here instead.
	rows, err := tx.QueryContext(ctx, saleParts+`(`+target+`)
		UNION ALL `+lineParts+`(`+target+`)
		UNION ALL `+paymentParts+`(`+target+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sale *refundry.Sale
	var lines []*refundry.LineItem
	var payments []*refundry.Transaction
	var linePos, paymentPos []int
	var part, position int
	var t [10]string
	var i [7]int64
	dest := []any{&part, &position}
	for k := range t {
		dest = append(dest, &t[k])
	}
	for k := range i {
		dest = append(dest, &i[k])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		switch part {
		case 0:
			sale = &refundry.Sale{ID: t[0], MerchantID: t[1], Reference: t[2], Currency: t[3], CampaignID: t[4], CampaignName: t[5],
				Customer: refundry.Customer{ID: t[6], Email: t[7], FirstName: t[8], LastName: t[9]},
				Amount:   i[0], RefundedAmount: i[1], Created: fromMicros(i[2])}
			sale.Status = refundry.PaymentState(sale.Amount, sale.RefundedAmount)
		case 1:
			lines = append(lines, &refundry.LineItem{ID: t[0], SaleID: t[1], Name: t[2], Kind: t[3], GatewayLineID: t[4],
				Quantity: i[0], UnitAmount: i[1], TaxAmount: i[2], Amount: i[3], RefundedAmount: i[4], RefundedQuantity: i[5]})
			linePos = append(linePos, position)
		default:
			p := &refundry.Transaction{ID: t[0], SaleID: t[1], Reference: t[2], Gateway: t[3], GatewayChargeID: t[4], Currency: t[5],
				BaseCurrency: t[6], DisputeStatus: t[7], GatewayAccount: t[8],
				Number: i[0], Amount: i[1], RefundedAmount: i[2], ProcessingFee: i[3], BaseAmount: i[4], DisputedAmount: i[5], Created: fromMicros(i[6])}
			p.Status = refundry.PaymentState(p.Amount, p.RefundedAmount)
			payments = append(payments, p)
			paymentPos = append(paymentPos, position)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if sale == nil {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No such sale.")
	}
	sale.LineItems, sale.Transactions = inPosition(lines, linePos), inPosition(payments, paymentPos)
	return sale, nil
}

// inPosition returns parts in the order of their positions.
func inPosition[T any](parts []T, pos []int) []T {
	idx := make([]int, len(parts))
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return pos[a] - pos[b] })
	out := make([]T, len(parts))
	for k, from := range idx {
		out[k] = parts[from]
	}
	return out
}

// The three parts of findSale's UNION, each ten text columns and seven
// integer ones after its part number and position (padded with empty texts and zeros,
// so that every column scans into one Go type), each followed by the
// subquery that picks the sale.
const (
	saleParts = `SELECT 0, 0, s.id, s.merchant_id, s.reference, s.currency, s.campaign_id, s.campaign_name,
		c.id, c.email, c.first_name, c.last_name, s.amount, s.refunded_amount, s.created, 0, 0, 0, 0
		FROM sales s JOIN customers c ON c.id = s.customer_id WHERE s.id = `
	lineParts = `SELECT 1, position, id, sale_id, name, kind, gateway_line_id, '', '', '', '', '',
		quantity, unit_amount, tax_amount, amount, refunded_amount, refunded_quantity, 0
		FROM line_items WHERE sale_id = `
	paymentParts = `SELECT 2, position, id, sale_id, reference, gateway, gateway_charge_id, currency, base_currency, dispute_status, gateway_account, '',
		number, amount, refunded_amount, processing_fee, base_amount, disputed_amount, created
		FROM transactions WHERE sale_id = `
)

// querySales runs a query over saleColumns and loads the parts of every
// sale it returns, in three queries whatever the number of sales.
func querySales(ctx context.Context, tx *tx, text string, args ...any) ([]*refundry.Sale, error) {
	rows, err := tx.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sales []*refundry.Sale
	byID := map[string]*refundry.Sale{}
	for rows.Next() {
		var s refundry.Sale
		var created int64
		if err := rows.Scan(&s.ID, &s.MerchantID, &s.Reference, &s.Currency, &s.Amount, &s.RefundedAmount,
			&s.CampaignID, &s.CampaignName, &created,
			&s.Customer.ID, &s.Customer.Email, &s.Customer.FirstName, &s.Customer.LastName); err != nil {
			return nil, err
		}
		s.Created = fromMicros(created)
		s.Status = refundry.PaymentState(s.Amount, s.RefundedAmount)
		s.LineItems = []*refundry.LineItem{}
		s.Transactions = []*refundry.Transaction{}
		sales = append(sales, &s)
		byID[s.ID] = &s
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(sales) == 0 {
		return nil, nil
	}
	ids := make([]string, len(sales))
	for i, s := range sales {
		ids[i] = s.ID
	}

	var lq query
	lq.in("sale_id", ids)
	rows, err = tx.QueryContext(ctx, `SELECT id, sale_id, name, kind, quantity, unit_amount, tax_amount, amount, refunded_amount, refunded_quantity,
		gateway_line_id FROM line_items`+
		lq.sql()+` ORDER BY sale_id, position`, lq.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var li refundry.LineItem
		if err := rows.Scan(&li.ID, &li.SaleID, &li.Name, &li.Kind, &li.Quantity, &li.UnitAmount, &li.TaxAmount, &li.Amount,
			&li.RefundedAmount, &li.RefundedQuantity, &li.GatewayLineID); err != nil {
			return nil, err
		}
		byID[li.SaleID].LineItems = append(byID[li.SaleID].LineItems, &li)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	rows, err = tx.QueryContext(ctx, `SELECT number, id, sale_id, reference, gateway, gateway_charge_id, currency, amount,
		refunded_amount, processing_fee, base_amount, base_currency, dispute_status, disputed_amount, created, gateway_account FROM transactions`+
		lq.sql()+` ORDER BY sale_id, position`, lq.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t refundry.Transaction
		var created int64
		if err := rows.Scan(&t.Number, &t.ID, &t.SaleID, &t.Reference, &t.Gateway, &t.GatewayChargeID, &t.Currency, &t.Amount,
			&t.RefundedAmount, &t.ProcessingFee, &t.BaseAmount, &t.BaseCurrency, &t.DisputeStatus, &t.DisputedAmount, &created, &t.GatewayAccount); err != nil {
			return nil, err
		}
		t.Created = fromMicros(created)
		t.Status = refundry.PaymentState(t.Amount, t.RefundedAmount)
		byID[t.SaleID].Transactions = append(byID[t.SaleID].Transactions, &t)
	}
	return sales, rows.Err()
}

// ListSales returns one page, newest first, and whether more follow.
func (s *Store) ListSales(ctx context.Context, merchantID string, f refundry.SaleFilter) ([]*refundry.Sale, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	text, args, err := listSalesQuery(merchantID, f)
	if err != nil {
		return nil, false, err
	}
	var sales []*refundry.Sale
	err = s.view(ctx, func(tx *tx) (err error) {
		sales, err = querySales(ctx, tx, text, args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	sales, more := trim(sales, f.Page)
	return sales, more, nil
}

// listSalesQuery is the query of ListSales for a normalized filter; the
// query plan test reads its plan.
func listSalesQuery(merchantID string, f refundry.SaleFilter) (string, []any, error) {
	var q query
	q.add("s.merchant_id = ?", merchantID)
	if f.Reference != "" {
		q.add("s.reference = ? AND s.reference <> ''", f.Reference)
	}
	if f.CustomerEmail != "" {
		// Folded on both sides, with the merchant first, as the index
		// customers_email_fold has it. A subquery of sale ids, so that the
		// plan starts from that customer's sales rather than walking every
		// sale of the merchant in id order.
		q.add("s.id IN (SELECT sales.id FROM customers JOIN sales ON sales.customer_id = customers.id WHERE customers.merchant_id = ? AND "+
			foldEmail+" = ?)", merchantID, refundry.FoldCase(f.CustomerEmail))
	}
	if f.Search != "" {
		addSearch(&q, merchantID, f.Search)
	}
	switch f.Status {
	case "":
	case refundry.PaymentPaid:
		q.add("s.refunded_amount = 0")
	case refundry.PaymentPartiallyRefunded:
		q.add("s.refunded_amount > 0 AND s.refunded_amount < s.amount")
	case refundry.PaymentRefunded:
		q.add("s.refunded_amount >= s.amount")
	default:
		return "", nil, refundry.ParamErrorf(refundry.EINVALID, "status", "Status must be paid, partially_refunded or refunded.")
	}
	tail := q.page("s.id", f.Page)
	return saleColumns + q.sql() + tail, q.args, nil
}

// exists reports whether the query returns a row.
func exists(ctx context.Context, tx *tx, text string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, text+" LIMIT 1", args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// cloneSale copies a sale and its parts, so that the copy's parts can be
// filled in without touching the original's.
func cloneSale(s *refundry.Sale) *refundry.Sale {
	c := *s
	c.LineItems = make([]*refundry.LineItem, len(s.LineItems))
	for i, li := range s.LineItems {
		x := *li
		c.LineItems[i] = &x
	}
	c.Transactions = make([]*refundry.Transaction, len(s.Transactions))
	for i, t := range s.Transactions {
		x := *t
		c.Transactions[i] = &x
	}
	return &c
}
