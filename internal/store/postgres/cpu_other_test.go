//go:build !unix

package postgres

import "time"

func processCPU() time.Duration { return 0 }
