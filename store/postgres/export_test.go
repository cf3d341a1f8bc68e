package postgres

// Migrations are the embedded migration files, for tests that build an
// older schema by hand.
var Migrations = migrations
