// Command opwatch is a self-hosted security monitor for 1Password.
package main

import (
	"os"

	"github.com/opwatch/opwatch/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
