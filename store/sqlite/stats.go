package sqlite

// Statements is not counted yet.
func (s *Store) Statements() int64 { return 0 }
