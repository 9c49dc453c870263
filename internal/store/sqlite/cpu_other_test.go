//go:build !unix

package sqlite

import "time"

func processCPU() time.Duration { return 0 }
