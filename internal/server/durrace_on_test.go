//go:build race

package server_test

// durRace scales the lose-nothing tests down under the race detector.
const durRace = true
