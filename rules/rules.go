// Package rules holds opwatch's built-in detection packs (Panther's format:
// a YAML file and a Starlark file per rule, a pack.yml per folder) and the
// shared Starlark helper modules under helpers/, embedded in the binary.
package rules

import "embed"

// FS is this folder: panther/, onepassword/ and helpers/. The pattern also
// embeds this .go file (the loader reads only .yml and .star files) so that
// it never fails while a pack folder is still empty.
//
//go:embed *
var FS embed.FS
