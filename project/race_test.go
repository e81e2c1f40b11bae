//go:build race

package project

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = true
