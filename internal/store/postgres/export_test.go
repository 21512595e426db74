package postgres

// ChannelForTest is s's purge notification channel, for tests that find
// the listening session in pg_stat_activity or notify it by hand.
func ChannelForTest(s *Store) string { return s.channel }
