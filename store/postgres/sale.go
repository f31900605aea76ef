package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
)

// CreateSale stores a validated sale with its customer, line items and
// transactions, and appends sale.created, all in one transaction.
func (s *Store) CreateSale(ctx context.Context, sale *refundry.Sale, idem *refundry.Idempotency) (bool, error) {
	in := prepareSale(sale, s.now())
	// Validate again, on the copy: the store is the last place that can
	// refuse a sale whose payments do not add up.
	if err := in.Validate(); err != nil {
		return false, err
	}
	if !usesKey(idem) && in.Customer.Email == "" {
		// Nothing to read first: no key to claim, no customer to find.
		out, err := s.insertSaleAtOnce(ctx, in)
		if err != nil {
			return false, err
		}
		*sale = *out
		return false, nil
	}
	var out *refundry.Sale
	var replayed bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		out, replayed = nil, false
		if usesKey(idem) {
			rec, err := claimKey(ctx, tx, in.MerchantID, idem, "sale", []string{in.ID}, in.Created)
			if err != nil {
				return err
			}
			if rec != nil {
				if len(rec.resourceIDs) != 1 {
					return fmt.Errorf("postgres: idempotency key names %d sales", len(rec.resourceIDs))
				}
				out, err = findSale(ctx, tx, in.MerchantID, refundry.SaleLookup{ID: rec.resourceIDs[0]}, false)
				replayed = true
				return err
			}
		}
		var err error
		if out, err = insertSale(ctx, tx, in); err != nil {
			return err
		}
		return audit(ctx, tx, in.MerchantID, refundry.AuditSaleCreate, in.Created, out.ID)
	})
	if err != nil {
		return false, err
	}
	*sale = *out
	return replayed, nil
}

// prepareSale copies a sale about to be stored, assigning what the store
// assigns, so that a retried transaction starts from the same values and
// the caller's sale changes only once the sale is durable.
func prepareSale(sale *refundry.Sale, now time.Time) *refundry.Sale {
	in := *sale
	if in.ID == "" {
		in.ID = refundry.NewID()
	}
	if in.Created.IsZero() {
		in.Created = now
	}
	in.Created = normTime(in.Created)
	in.RefundedAmount = 0
	in.Status = refundry.PaymentPaid
	in.LineItems = make([]*refundry.LineItem, len(sale.LineItems))
	for i, li := range sale.LineItems {
		l := *li
		if l.ID == "" {
			l.ID = refundry.NewID()
		}
		l.SaleID = in.ID
		l.RefundedAmount, l.RefundedQuantity = 0, 0
		if l.Kind == "" {
			l.Kind = refundry.LineProduct
		}
		in.LineItems[i] = &l
	}
	in.Transactions = make([]*refundry.Transaction, len(sale.Transactions))
	for i, t := range sale.Transactions {
		tt := *t
		if tt.ID == "" {
			tt.ID = refundry.NewID()
		}
		tt.SaleID = in.ID
		tt.Currency = in.Currency
		tt.RefundedAmount = 0
		tt.Status = refundry.PaymentPaid
		if tt.Created.IsZero() {
			tt.Created = in.Created
		}
		tt.Created = normTime(tt.Created)
		in.Transactions[i] = &tt
	}
	return &in
}

// insertSaleAtOnce writes a prepared sale of a new customer, without an
// Idempotency-Key: its payments' numbers are drawn first (a sequence
// gives them outside any transaction), so that the sale's event can be
// made before anything is written, and then the customer, the sale, its
// lines and payments, its event and its audit entry go as one statement.
// One statement is one transaction: all of it is durable when it returns,
// or none of it was written.
func (s *Store) insertSaleAtOnce(ctx context.Context, in *refundry.Sale) (*refundry.Sale, error) {
	out := *in
	out.Customer.ID = refundry.NewID()
	out.Transactions = make([]*refundry.Transaction, len(in.Transactions))
	for i, t := range in.Transactions {
		tt := *t
		out.Transactions[i] = &tt
	}
	if n := len(out.Transactions); n > 0 {
		// A number drawn by a statement that then fails is skipped, as
		// with the column's default: numbers only need to be unique.
		rows, err := s.pool.Query(ctx, `SELECT nextval('transactions_number_seq') FROM generate_series(1, $1)`, n)
		if err != nil {
			return nil, translate(err)
		}
		numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, translate(err)
		}
		for i, t := range out.Transactions {
			t.Number = numbers[i]
		}
	}
	ev, err := refundry.NewEvent(out.MerchantID, refundry.EventSaleCreated, "sale", out.ID, &out, out.Created)
	if err != nil {
		return nil, err
	}
	// Each part inserts its values or fails: no row count to check, which
	// matters here, where the statement commits as soon as it has run.
	w := &oneStatement{}
	c := out.Customer
	w.add(-1, nil, `INSERT INTO customers (id, merchant_id, email, first_name, last_name) VALUES ($1, $2, $3, $4, $5)`,
		c.ID, out.MerchantID, c.Email, c.FirstName, c.LastName)
	w.add(-1, nil, `INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)`,
		out.ID, out.MerchantID, out.Reference, out.Currency, out.Amount, c.ID, out.CampaignID, out.CampaignName, out.Created)
	if n := len(out.LineItems); n > 0 {
		ids, names, kinds, gatewayLines := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ords, quantities, units, taxes, amounts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, li := range out.LineItems {
			ids[i], names[i], kinds[i], gatewayLines[i] = li.ID, li.Name, li.Kind, li.GatewayLineID
			ords[i], quantities[i], units[i], taxes[i], amounts[i] = int64(i), li.Quantity, li.UnitAmount, li.TaxAmount, li.Amount
		}
		w.add(-1, nil, `INSERT INTO line_items (id, sale_id, merchant_id, ord, name, kind, quantity, unit_amount, tax_amount, amount, refunded_amount,
				gateway_line_id)
			SELECT u.id, $2, $3, u.ord, u.name, u.kind, u.quantity, u.unit_amount, u.tax_amount, u.amount, 0, u.gateway_line_id
			FROM unnest($1::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])
				AS u(id, ord, name, kind, quantity, unit_amount, tax_amount, amount, gateway_line_id)`,
			ids, out.ID, out.MerchantID, ords, names, kinds, quantities, units, taxes, amounts, gatewayLines)
	}
	if n := len(out.Transactions); n > 0 {
		ids, refs, gateways, charges, currencies, baseCurrencies := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ords, numbers, amounts, fees, bases := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		created, accounts := make([]time.Time, n), make([]string, n)
		for i, t := range out.Transactions {
			ids[i], refs[i], gateways[i], charges[i], currencies[i], baseCurrencies[i] = t.ID, t.Reference, t.Gateway, t.GatewayChargeID, t.Currency, t.BaseCurrency
			ords[i], numbers[i], amounts[i], fees[i], bases[i] = int64(i), t.Number, t.Amount, t.ProcessingFee, t.BaseAmount
			created[i], accounts[i] = t.Created, t.GatewayAccount
		}
		w.add(-1, nil, `INSERT INTO transactions (id, sale_id, merchant_id, ord, number, reference, gateway, gateway_charge_id, currency, amount,
				refunded_amount, processing_fee, base_amount, base_currency, created, gateway_account)
			SELECT u.id, $2, $3, u.ord, u.number, u.reference, u.gateway, u.charge, u.currency, u.amount, 0, u.fee, u.base, u.base_currency, u.created,
				u.account
			FROM unnest($1::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[],
				$12::bigint[], $13::text[], $14::timestamptz[], $15::text[])
				AS u(id, ord, number, reference, gateway, charge, currency, amount, fee, base, base_currency, created, account)`,
			ids, out.ID, out.MerchantID, ords, numbers, refs, gateways, charges, currencies, amounts, fees, bases, baseCurrencies, created, accounts)
	}
	w.add(-1, nil, `INSERT INTO events (id, merchant_id, type, object_type, object_id, data, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ev.ID, ev.MerchantID, ev.Type, ev.ObjectType, ev.ObjectID, string(ev.Data), normTime(ev.Created))
	if e := refundry.NewAuditEntry(ctx, out.MerchantID, refundry.AuditSaleCreate, out.ID, out.Created); e != nil {
		w.add(-1, nil, insertAuditSQL, auditArgs(e)...)
	}
	err = s.loop(ctx, func() error {
		b := &pgx.Batch{}
		w.queue(b)
		return s.pool.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// insertSale writes a prepared sale; its result differs from in only by
// what the database assigns: the customer and the transaction numbers.
func insertSale(ctx context.Context, tx pgx.Tx, in *refundry.Sale) (*refundry.Sale, error) {
	out := *in
	cust, err := findOrCreateCustomer(ctx, tx, in.MerchantID, in.Customer)
	if err != nil {
		return nil, err
	}
	out.Customer = cust
	if _, err := tx.Exec(ctx, `INSERT INTO sales (id, merchant_id, reference, currency, amount, refunded_amount, customer_id, campaign_id, campaign_name, created)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)`,
		out.ID, out.MerchantID, out.Reference, out.Currency, out.Amount, cust.ID, out.CampaignID, out.CampaignName, out.Created); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for i, li := range out.LineItems {
		b.Queue(`INSERT INTO line_items (id, sale_id, merchant_id, ord, name, kind, quantity, unit_amount, tax_amount, amount, refunded_amount, gateway_line_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11)`,
			li.ID, out.ID, out.MerchantID, i, li.Name, li.Kind, li.Quantity, li.UnitAmount, li.TaxAmount, li.Amount, li.GatewayLineID)
	}
	out.Transactions = make([]*refundry.Transaction, len(in.Transactions))
	for i, t := range in.Transactions {
		tt := *t
		out.Transactions[i] = &tt
		b.Queue(`INSERT INTO transactions (id, sale_id, merchant_id, ord, reference, gateway, gateway_charge_id, currency, amount, refunded_amount, processing_fee, base_amount, base_currency, created, gateway_account)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14) RETURNING number`,
			tt.ID, out.ID, out.MerchantID, i, tt.Reference, tt.Gateway, tt.GatewayChargeID, tt.Currency, tt.Amount, tt.ProcessingFee, tt.BaseAmount, tt.BaseCurrency, tt.Created, tt.GatewayAccount).
			QueryRow(func(row pgx.Row) error { return row.Scan(&tt.Number) })
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	ev, err := refundry.NewEvent(out.MerchantID, refundry.EventSaleCreated, "sale", out.ID, &out, out.Created)
	if err != nil {
		return nil, err
	}
	if err := insertEvents(ctx, tx, ev); err != nil {
		return nil, err
	}
	return &out, nil
}

// findOrCreateCustomer returns the merchant's customer with c's email,
// making it if there is none, with the names c carries if it has any
// (Customer.Renamed decides). A customer without an email is always new.
func findOrCreateCustomer(ctx context.Context, tx pgx.Tx, merchantID string, c refundry.Customer) (refundry.Customer, error) {
	c.ID = refundry.NewID()
	if c.Email != "" {
		found, err := findCustomer(ctx, tx, merchantID, c.Email)
		if err == nil {
			return renameCustomer(ctx, tx, found, c)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return c, err
		}
	}
	// A concurrent sale may be creating the same customer: ON CONFLICT
	// waits for it and then inserts nothing, and the customer it made is
	// read back below.
	tag, err := tx.Exec(ctx, `INSERT INTO customers (id, merchant_id, email, first_name, last_name) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (merchant_id, email) WHERE email <> '' DO NOTHING`,
		c.ID, merchantID, c.Email, c.FirstName, c.LastName)
	if err != nil {
		return c, err
	}
	if tag.RowsAffected() == 1 {
		return c, nil
	}
	found, err := findCustomer(ctx, tx, merchantID, c.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, errRetry
	} else if err != nil {
		return found, err
	}
	return renameCustomer(ctx, tx, found, c)
}

// renameCustomer gives the stored customer found the names of a newer
// sale's customer c, if Customer.Renamed says they change.
func renameCustomer(ctx context.Context, tx pgx.Tx, found, c refundry.Customer) (refundry.Customer, error) {
	renamed, changed := found.Renamed(c)
	if !changed {
		return found, nil
	}
	_, err := tx.Exec(ctx, `UPDATE customers SET first_name = $1, last_name = $2 WHERE id = $3`, renamed.FirstName, renamed.LastName, renamed.ID)
	return renamed, err
}

func findCustomer(ctx context.Context, tx pgx.Tx, merchantID, email string) (refundry.Customer, error) {
	var c refundry.Customer
	err := tx.QueryRow(ctx, `SELECT id, email, first_name, last_name FROM customers WHERE merchant_id = $1 AND email = $2`, merchantID, email).
		Scan(&c.ID, &c.Email, &c.FirstName, &c.LastName)
	return c, err
}

// FindSale returns the sale with its line items and transactions.
// Returns ENOTFOUND if none matches for this merchant.
//
// It is one statement: the sale's row with its customer's, and its line
// items and payments aggregated beside it, so the read sees one snapshot
// (a sale is never read half before and half after a refund) without a
// transaction around it.
func (s *Store) FindSale(ctx context.Context, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	cond, arg, what, err := saleCondition(by)
	if err != nil {
		return nil, err
	}
	var cid, email, first, last *string
	var lines, txns []byte
	sale, err := scanSale(extraRow{s.reads().QueryRow(ctx, `SELECT `+saleColumns+`, c.id, c.email, c.first_name, c.last_name,
		(SELECT json_agg(json_build_array(`+lineItemColumns+`) ORDER BY ord) FROM line_items WHERE sale_id = s.id),
		(SELECT json_agg(json_build_array(`+transactionColumns+`) ORDER BY ord) FROM transactions WHERE sale_id = s.id)
		FROM sales s LEFT JOIN customers c ON c.id = s.customer_id WHERE s.merchant_id = $1 AND `+cond, merchantID, arg),
		[]any{&cid, &email, &first, &last, &lines, &txns}})
	if err != nil {
		return nil, notFound(err, "No such %s", what)
	}
	if cid != nil {
		sale.Customer = refundry.Customer{ID: *cid, Email: *email, FirstName: *first, LastName: *last}
	} else {
		sale.Customer = refundry.Customer{}
	}
	if err := decodeRows(lines, func() []any {
		li := &refundry.LineItem{}
		sale.LineItems = append(sale.LineItems, li)
		return []any{&li.ID, &li.SaleID, &li.Name, &li.Kind, &li.Quantity, &li.UnitAmount, &li.TaxAmount, &li.Amount,
			&li.RefundedAmount, &li.RefundedQuantity, &li.GatewayLineID}
	}); err != nil {
		return nil, err
	}
	if err := decodeRows(txns, func() []any {
		t := &refundry.Transaction{}
		sale.Transactions = append(sale.Transactions, t)
		return []any{&t.ID, &t.Number, &t.SaleID, &t.Reference, &t.Gateway, &t.GatewayChargeID, &t.Currency,
			&t.Amount, &t.RefundedAmount, &t.ProcessingFee, &t.BaseAmount, &t.BaseCurrency, &t.DisputeStatus, &t.DisputedAmount, &t.Created, &t.GatewayAccount}
	}); err != nil {
		return nil, err
	}
	for _, t := range sale.Transactions {
		t.Created = t.Created.UTC()
		t.Status = refundry.PaymentState(t.Amount, t.RefundedAmount)
	}
	return sale, nil
}

// decodeRows decodes data, a JSON array of rows each a JSON array of
// columns (json_agg of json_build_array), into the values next returns for
// each row. Numbers decode into int64 exactly, never through a float.
func decodeRows(data []byte, next func() []any) error {
	if len(data) == 0 {
		return nil
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(data, &rows); err != nil {
		return err
	}
	for _, row := range rows {
		dest := next()
		if len(row) != len(dest) {
			return fmt.Errorf("postgres: a row of %d columns, want %d", len(row), len(dest))
		}
		for i, col := range row {
			if err := json.Unmarshal(col, dest[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// findSale loads one sale of the merchant, in one round trip. With lock,
// the sale's row is locked until tx ends: every change to a sale's
// refunded amounts takes this lock first, which serializes them
// (invariant 2).
func findSale(ctx context.Context, tx pgx.Tx, merchantID string, by refundry.SaleLookup, lock bool) (*refundry.Sale, error) {
	b := &pgx.Batch{}
	sale, err := queueFindSale(b, merchantID, by, lock)
	if err != nil {
		return nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return sale()
}

// saleCondition is the condition on sales s that finds the sale by names
// (with $1 the merchant and $2 arg), and what it is called when missing.
func saleCondition(by refundry.SaleLookup) (cond string, arg any, what string, err error) {
	n := 0
	if by.ID != "" {
		cond, arg, what, n = `s.id = $2`, by.ID, "sale "+by.ID, n+1
	}
	if by.Reference != "" {
		// The unique indexes on references are partial (WHERE reference
		// <> ''); a generic plan uses them only if the query says so too.
		cond, arg, what, n = `s.reference = $2 AND s.reference <> ''`, by.Reference, "sale with reference "+by.Reference, n+1
	}
	if by.LineItemID != "" {
		cond, arg, what, n = `s.id = (SELECT sale_id FROM line_items WHERE id = $2)`, by.LineItemID, "line item "+by.LineItemID, n+1
	}
	if by.TransactionID != "" {
		cond, arg, what, n = `s.id = (SELECT sale_id FROM transactions WHERE id = $2)`, by.TransactionID, "transaction "+by.TransactionID, n+1
	}
	if by.TransactionNumber != 0 {
		cond, arg, what, n = `s.id = (SELECT sale_id FROM transactions WHERE number = $2)`, by.TransactionNumber, fmt.Sprintf("transaction %d", by.TransactionNumber), n+1
	}
	if by.TransactionReference != "" {
		cond, arg, what, n = `s.id = (SELECT sale_id FROM transactions WHERE merchant_id = $1 AND reference = $2 AND reference <> '')`, by.TransactionReference, "transaction with reference "+by.TransactionReference, n+1
	}
	if n != 1 {
		return "", nil, "", refundry.Errorf(refundry.EINVALID, "Look a sale up by exactly one of its identities.")
	}
	return cond, arg, what, nil
}

// queueFindSale queues on b the statements that read one sale of the
// merchant with its customer, line items and transactions, and returns
// the function that gives the sale once b has run. Every statement finds
// the sale by the same condition, so none waits for another's answer and
// the whole read is one round trip. With lock, the sale's row is locked
// first; at READ COMMITTED the statements after it each take a new
// snapshot, so once the lock is granted they read what its previous
// holder committed.
func queueFindSale(b *pgx.Batch, merchantID string, by refundry.SaleLookup, lock bool) (func() (*refundry.Sale, error), error) {
	cond, arg, what, err := saleCondition(by)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + saleColumns + ` FROM sales s WHERE s.merchant_id = $1 AND ` + cond
	if lock {
		q += ` FOR UPDATE`
	}
	var sale *refundry.Sale
	var saleErr error
	b.Queue(q, merchantID, arg).QueryRow(func(row pgx.Row) error {
		sale, saleErr = scanSale(row)
		return nil
	})
	bySale := `(SELECT s.id FROM sales s WHERE s.merchant_id = $1 AND ` + cond + `)`
	var cust refundry.Customer
	b.Queue(`SELECT id, email, first_name, last_name FROM customers
		WHERE id = (SELECT s.customer_id FROM sales s WHERE s.merchant_id = $1 AND `+cond+`)`, merchantID, arg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&cust.ID, &cust.Email, &cust.FirstName, &cust.LastName); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	lis := []*refundry.LineItem{}
	b.Queue(`SELECT `+lineItemColumns+` FROM line_items
		WHERE sale_id = `+bySale+` ORDER BY ord`, merchantID, arg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			li, err := scanLineItem(rows)
			if err != nil {
				return err
			}
			lis = append(lis, li)
		}
		return rows.Err()
	})
	txns := []*refundry.Transaction{}
	b.Queue(`SELECT `+transactionColumns+` FROM transactions WHERE sale_id = `+bySale+` ORDER BY ord`, merchantID, arg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanTransaction(rows)
			if err != nil {
				return err
			}
			txns = append(txns, t)
		}
		return rows.Err()
	})
	return func() (*refundry.Sale, error) {
		if saleErr != nil {
			return nil, notFound(saleErr, "No such %s", what)
		}
		if sale == nil {
			// The batch stopped before the sale's statement answered.
			return nil, fmt.Errorf("postgres: the sale's statement did not run")
		}
		sale.Customer = cust
		sale.LineItems, sale.Transactions = lis, txns
		return sale, nil
	}, nil
}

const saleColumns = `s.id, s.merchant_id, s.reference, s.currency, s.amount, s.refunded_amount, s.customer_id, s.campaign_id, s.campaign_name, s.created`

func scanSale(row pgx.Row) (*refundry.Sale, error) {
	sl := &refundry.Sale{}
	err := row.Scan(&sl.ID, &sl.MerchantID, &sl.Reference, &sl.Currency, &sl.Amount, &sl.RefundedAmount,
		&sl.Customer.ID, &sl.CampaignID, &sl.CampaignName, &sl.Created)
	if err != nil {
		return nil, err
	}
	sl.Created = sl.Created.UTC()
	sl.Status = refundry.PaymentState(sl.Amount, sl.RefundedAmount)
	sl.LineItems = []*refundry.LineItem{}
	sl.Transactions = []*refundry.Transaction{}
	return sl, nil
}

// fillSales loads the customers, line items and transactions of sales in
// one round trip.
func fillSales(ctx context.Context, tx pgx.Tx, sales []*refundry.Sale) error {
	if len(sales) == 0 {
		return nil
	}
	byID := make(map[string]*refundry.Sale, len(sales))
	ids := make([]string, len(sales))
	custIDs := make([]string, len(sales))
	for i, sl := range sales {
		byID[sl.ID] = sl
		ids[i] = sl.ID
		custIDs[i] = sl.Customer.ID
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, email, first_name, last_name FROM customers WHERE id = ANY($1)`, custIDs).Query(func(rows pgx.Rows) error {
		custs := map[string]refundry.Customer{}
		for rows.Next() {
			var c refundry.Customer
			if err := rows.Scan(&c.ID, &c.Email, &c.FirstName, &c.LastName); err != nil {
				return err
			}
			custs[c.ID] = c
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, sl := range sales {
			sl.Customer = custs[sl.Customer.ID]
		}
		return nil
	})
	b.Queue(`SELECT `+lineItemColumns+` FROM line_items WHERE sale_id = ANY($1) ORDER BY sale_id, ord`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			li, err := scanLineItem(rows)
			if err != nil {
				return err
			}
			sl := byID[li.SaleID]
			sl.LineItems = append(sl.LineItems, li)
		}
		return rows.Err()
	})
	b.Queue(`SELECT `+transactionColumns+` FROM transactions WHERE sale_id = ANY($1) ORDER BY sale_id, ord`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			t, err := scanTransaction(rows)
			if err != nil {
				return err
			}
			sl := byID[t.SaleID]
			sl.Transactions = append(sl.Transactions, t)
		}
		return rows.Err()
	})
	return tx.SendBatch(ctx, b).Close()
}

const lineItemColumns = `id, sale_id, name, kind, quantity, unit_amount, tax_amount, amount, refunded_amount, refunded_quantity, gateway_line_id`

func scanLineItem(row pgx.Row) (*refundry.LineItem, error) {
	li := &refundry.LineItem{}
	if err := row.Scan(&li.ID, &li.SaleID, &li.Name, &li.Kind, &li.Quantity, &li.UnitAmount, &li.TaxAmount, &li.Amount,
		&li.RefundedAmount, &li.RefundedQuantity, &li.GatewayLineID); err != nil {
		return nil, err
	}
	return li, nil
}

const transactionColumns = `id, number, sale_id, reference, gateway, gateway_charge_id, currency, amount, refunded_amount,
	processing_fee, base_amount, base_currency, dispute_status, disputed_amount, created, gateway_account`

func scanTransaction(row pgx.Row) (*refundry.Transaction, error) {
	t := &refundry.Transaction{}
	if err := row.Scan(&t.ID, &t.Number, &t.SaleID, &t.Reference, &t.Gateway, &t.GatewayChargeID, &t.Currency,
		&t.Amount, &t.RefundedAmount, &t.ProcessingFee, &t.BaseAmount, &t.BaseCurrency, &t.DisputeStatus, &t.DisputedAmount, &t.Created, &t.GatewayAccount); err != nil {
		return nil, err
	}
	t.Created = t.Created.UTC()
	t.Status = refundry.PaymentState(t.Amount, t.RefundedAmount)
	return t, nil
}

// ListSales returns one page, newest first, and whether more follow.
func (s *Store) ListSales(ctx context.Context, merchantID string, f refundry.SaleFilter) ([]*refundry.Sale, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	q, args, err := listSalesQuery(merchantID, f)
	if err != nil {
		return nil, false, err
	}
	var out []*refundry.Sale
	var more bool
	err = s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*refundry.Sale, error) { return scanSale(row) })
		if err != nil {
			return err
		}
		out, more = trimPage(out, f.Page)
		return fillSales(ctx, tx, out)
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// listSalesQuery is the query of ListSales for a normalized filter; the
// query plan test reads its plan.
func listSalesQuery(merchantID string, f refundry.SaleFilter) (string, []any, error) {
	w := newWhere("s.merchant_id", merchantID)
	if f.Reference != "" {
		w.add("s.reference = $%d AND s.reference <> ''", f.Reference)
	}
	if f.CustomerEmail != "" {
		// Folded on both sides, as the index customers_email_fold_idx has
		// it. A subquery of sale ids, so that the plan can start from that
		// customer's sales rather than walk every sale of the merchant.
		w.add("s.id IN (SELECT sales.id FROM customers JOIN sales ON sales.customer_id = customers.id WHERE customers.merchant_id = $1 AND "+
			foldEmail+" = $%d)", refundry.FoldCase(f.CustomerEmail))
	}
	if f.Search != "" {
		addSearch(w, f.Search)
	}
	switch f.Status {
	case "":
	case refundry.PaymentPaid:
		w.conds = append(w.conds, "s.refunded_amount <= 0")
	case refundry.PaymentPartiallyRefunded:
		w.conds = append(w.conds, "s.refunded_amount > 0 AND s.refunded_amount < s.amount")
	case refundry.PaymentRefunded:
		w.conds = append(w.conds, "s.refunded_amount >= s.amount")
	default:
		return "", nil, refundry.ParamErrorf(refundry.EINVALID, "status", "Status must be paid, partially_refunded or refunded.")
	}
	q := `SELECT ` + saleColumns + ` FROM sales s WHERE ` + w.page("s.id", f.Page)
	return q, w.args, nil
}
