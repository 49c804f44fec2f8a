//go:build race

package webhook_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts that rely on a warm pool do not hold under -race.
const raceEnabled = true
