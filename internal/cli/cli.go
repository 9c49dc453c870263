// Package cli holds opwatch's verbs and wires its parts together.
package cli

import "io"

// Main runs the verb named by args[0] and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return 0
}
