// Package migrations embeds the versioned SQL schema of every Plugboard
// service, one directory per service and dialect:
//
//	migrations/<service>/<dialect>/NNNNN_description.sql
//
// Both dialects of a service use the same version numbers; where a step has
// nothing to do in one dialect, it keeps a file saying why. Services apply
// their set at start-up through storage.OpenService.
//
// The package is a leaf: it holds the files and nothing that opens a
// database, so nothing it imports runs back up the tree.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed */*/*.sql
var files embed.FS

// FS returns the migrations of one service ("registry", "core") for one
// dialect ("sqlite", "postgres").
func FS(service, dialect string) (fs.FS, error) {
	dir := service + "/" + dialect
	if _, err := fs.Stat(files, dir); err != nil {
		return nil, fmt.Errorf("migrations for %s on %s: %w", service, dialect, err)
	}
	return fs.Sub(files, dir)
}
