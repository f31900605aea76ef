package sqlite

// Statements counts every SQL statement the store has run for its
// callers since it was opened: each one a transaction sends (through tx,
// so every statement of a group-commit batch counts once), and the BEGIN
// and the COMMIT or ROLLBACK that open and close each transaction, read
// or write. Migrations, pings and backups are not counted.
func (s *Store) Statements() int64 { return s.statements.Load() }
