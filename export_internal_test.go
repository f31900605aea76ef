package refundry

// ApplyMovesForTest is a copy of s with ms applied, as a store writes
// them: external tests follow a decision's moves through a ledger.
func ApplyMovesForTest(s *Sale, ms []Move) *Sale {
	c := cloneSale(s)
	applyMoves(c, ms)
	return c
}
