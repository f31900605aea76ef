-- Itemized refunds: a line's kind and tax, the units refunded of it, and
-- what each refund returned of each line.
--
-- A line's amount already is quantity x unit_amount; with tax it is that
-- plus tax_amount, which existing lines do not have (0).
ALTER TABLE line_items ADD COLUMN kind TEXT NOT NULL DEFAULT 'product' CHECK (kind IN ('product', 'shipping'));
ALTER TABLE line_items ADD COLUMN tax_amount INTEGER NOT NULL DEFAULT 0 CHECK (tax_amount >= 0);
-- Invariant 2 extended to units: the conditional updates keep it, the
-- CHECK a second time.
ALTER TABLE line_items ADD COLUMN refunded_quantity INTEGER NOT NULL DEFAULT 0
	CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity);

-- Every refund's amount spread over the sale's lines; a release reverses
-- exactly these rows' amounts and units.
CREATE TABLE refund_lines (
	refund_id    TEXT NOT NULL REFERENCES refunds (id),
	line_item_id TEXT NOT NULL REFERENCES line_items (id),
	quantity     INTEGER NOT NULL CHECK (quantity >= 0),
	amount       INTEGER NOT NULL CHECK (amount >= 0),
	PRIMARY KEY (refund_id, line_item_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX refund_lines_line_item ON refund_lines (line_item_id);

-- A refund asked for one line item returned that line.
INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount)
SELECT id, line_item_id, 0, amount FROM refunds WHERE line_item_id IS NOT NULL;

-- Sale and transaction refunds that still hold money were never put on
-- lines, so every line showed its full amount as remaining. They are
-- allocated now as the allocation rule does (lines.go), once per sale:
-- their total over what remains on each line (after the line refunds
-- above), in proportion, largest remainder, ties to the earlier line;
-- then the allocated amounts, laid end to end in line order, are cut
-- among the refunds laid end to end in id order, so that each refund's
-- lines add up to its amount. An adopted over-refund's excess lands on no
-- line. The products fit 64 bits for any sale below about 3 x 10^9 minor
-- units.
WITH held AS (
	SELECT sale_id, SUM(amount) AS total FROM refunds
	WHERE line_item_id IS NULL AND status IN ('pending', 'succeeded') GROUP BY sale_id
), lines AS (
	SELECT l.id, l.sale_id, l.position, MAX(l.amount - l.refunded_amount, 0) AS remaining
	FROM line_items l JOIN held h ON h.sale_id = l.sale_id
), sums AS (
	SELECT l.sale_id, MIN(h.total, SUM(l.remaining)) AS give, SUM(l.remaining) AS remaining
	FROM lines l JOIN held h ON h.sale_id = l.sale_id GROUP BY l.sale_id
), shares AS (
	SELECT l.id, l.sale_id, l.position,
		CASE WHEN s.remaining = 0 THEN 0 ELSE s.give * l.remaining / s.remaining END AS part,
		CASE WHEN s.remaining = 0 THEN 0 ELSE s.give * l.remaining % s.remaining END AS rem,
		s.give
	FROM lines l JOIN sums s ON s.sale_id = l.sale_id
), ranked AS (
	SELECT id, sale_id, position, part,
		give - SUM(part) OVER (PARTITION BY sale_id) AS leftover,
		ROW_NUMBER() OVER (PARTITION BY sale_id ORDER BY rem DESC, position) AS place
	FROM shares
), allocated AS (
	SELECT id, sale_id, position, part + (CASE WHEN place <= leftover THEN 1 ELSE 0 END) AS amount FROM ranked
), line_spans AS (
	SELECT id, sale_id, amount,
		SUM(amount) OVER (PARTITION BY sale_id ORDER BY position ROWS UNBOUNDED PRECEDING) - amount AS start
	FROM allocated WHERE amount > 0
), refund_spans AS (
	SELECT id, sale_id, amount,
		SUM(amount) OVER (PARTITION BY sale_id ORDER BY id ROWS UNBOUNDED PRECEDING) - amount AS start
	FROM refunds WHERE line_item_id IS NULL AND status IN ('pending', 'succeeded')
)
INSERT INTO refund_lines (refund_id, line_item_id, quantity, amount)
SELECT r.id, l.id, 0, MIN(r.start + r.amount, l.start + l.amount) - MAX(r.start, l.start)
FROM refund_spans r JOIN line_spans l ON l.sale_id = r.sale_id
WHERE MIN(r.start + r.amount, l.start + l.amount) > MAX(r.start, l.start);

-- Each line's refunded amount is now what the refunds that hold money
-- put on it.
UPDATE line_items SET refunded_amount = (
	SELECT COALESCE(SUM(rl.amount), 0) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id
	WHERE rl.line_item_id = line_items.id AND r.status IN ('pending', 'succeeded'));
