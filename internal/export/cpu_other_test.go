//go:build !unix

package export

import "time"

// cpuTime is not measured here; events/cpu-s reads +Inf.
func cpuTime() time.Duration { return 0 }
