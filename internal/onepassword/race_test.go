//go:build race

package onepassword

// raceEnabled trims the round trip under the race detector, which slows it
// tenfold.
const raceEnabled = true
