package config

// alertBadFiles lists, for every testdata/alerts-*.bad.yaml, every problem
// it must report (see badFiles).
var alertBadFiles = map[string][]string{}
