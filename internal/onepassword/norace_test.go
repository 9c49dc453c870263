//go:build !race

package onepassword

const raceEnabled = false
