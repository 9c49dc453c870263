package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"
)

// ManifestName is the manifest's file name in the output directory. The
// leading underscore makes Hive, Trino and Spark skip it.
const ManifestName = "_manifest.json"

// Manifest lists the partitions under an output directory and the export
// that wrote each. An export replaces the entries of the partitions in its
// range and keeps the others.
type Manifest struct {
	Format     int         `json:"format"` // 1
	UpdatedAt  time.Time   `json:"updated_at"`
	LastExport ExportInfo  `json:"last_export"`
	Partitions []Partition `json:"partitions"` // by log type, then day
}

// ExportInfo describes one run of an export.
type ExportInfo struct {
	Since          time.Time `json:"since"` // widened to whole UTC days
	Until          time.Time `json:"until"`
	LogTypes       []string  `json:"log_types"`
	Mapping        string    `json:"mapping"` // panther, ecs or ocsf
	OpwatchVersion string    `json:"opwatch_version"`
	At             time.Time `json:"at"`
	Rows           int64     `json:"rows"`
}

// Partition is one log type and day.
type Partition struct {
	LogType        string    `json:"log_type"`
	Day            string    `json:"dt"`
	Path           string    `json:"path"`              // relative to the output directory, with /
	Mapping        string    `json:"mapping,omitempty"` // panther when empty
	Rows           int64     `json:"rows"`
	MinEventTime   time.Time `json:"min_event_time"`
	MaxEventTime   time.Time `json:"max_event_time"`
	ExportSince    time.Time `json:"export_since"`
	ExportUntil    time.Time `json:"export_until"`
	ExportedAt     time.Time `json:"exported_at"`
	OpwatchVersion string    `json:"opwatch_version"`
	Files          []File    `json:"files"`
}

func (p Partition) mapping() string {
	if p.Mapping == "" {
		return MappingPanther
	}
	return p.Mapping
}

// File is one Parquet file of a partition.
type File struct {
	Path         string    `json:"path"` // relative to the output directory, with /
	Rows         int64     `json:"rows"`
	Bytes        int64     `json:"bytes"`
	SHA256       string    `json:"sha256"`
	MinEventTime time.Time `json:"min_event_time"`
	MaxEventTime time.Time `json:"max_event_time"`
}

// ReadManifest reads the manifest of an output directory; an empty one if
// there is none yet.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return &Manifest{Format: 1}, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

// commit puts every partition of the range in place and rewrites the
// manifest. A partition of the range without events now loses its files.
func (w *writers) commit(since, until time.Time, logTypes []string) (*Manifest, error) {
	m, err := ReadManifest(w.opt.Out)
	if err != nil {
		// The files are the truth; the manifest is rebuilt from this export.
		w.opt.Logger.Warn("export: the manifest cannot be read; it is written anew with this export's partitions", "err", err)
		m = &Manifest{Format: 1}
	}
	now := w.opt.now().UTC()
	inRange := map[partKey]bool{}
	for _, lt := range logTypes {
		for d := since; d.Before(until); d = d.Add(24 * time.Hour) {
			inRange[partKey{lt, d.Format(dayLayout)}] = true
		}
	}
	info := ExportInfo{Since: since, Until: until, LogTypes: logTypes, Mapping: w.opt.Mapping, OpwatchVersion: w.opt.Version, At: now}
	byKey := map[partKey]Partition{}
	for _, p := range m.Partitions {
		if k := (partKey{p.LogType, p.Day}); !inRange[k] {
			byKey[k] = p
		}
	}
	for _, k := range sortedKeys(inRange) {
		files := w.done[k]
		if err := w.replace(k, files); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			continue
		}
		dir := path.Join("p_log_type="+k.logType, "dt="+k.day)
		p := Partition{LogType: k.logType, Day: k.day, Path: dir, Mapping: w.opt.Mapping, ExportSince: since, ExportUntil: until,
			ExportedAt: now, OpwatchVersion: w.opt.Version}
		for _, f := range files {
			p.Files = append(p.Files, File{Path: path.Join(dir, partName(f.part)), Rows: f.rows, Bytes: f.size,
				SHA256: f.sha256, MinEventTime: f.min, MaxEventTime: f.max})
			p.Rows += f.rows
			if p.MinEventTime.IsZero() || f.min.Before(p.MinEventTime) {
				p.MinEventTime = f.min
			}
			if f.max.After(p.MaxEventTime) {
				p.MaxEventTime = f.max
			}
		}
		info.Rows += p.Rows
		byKey[k] = p
	}
	m.Format = 1
	m.UpdatedAt = now
	m.LastExport = info
	m.Partitions = m.Partitions[:0]
	for _, k := range sortedKeys(byKey) {
		m.Partitions = append(m.Partitions, byKey[k])
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export: manifest: %w", err)
	}
	final := filepath.Join(w.opt.Out, ManifestName)
	tmp := filepath.Join(w.opt.Out, "."+ManifestName+"."+w.run+".tmp")
	if err := writeSynced(tmp, append(b, '\n'), !w.opt.noSync); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("export: write the manifest: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("export: put the manifest in place: %w", err)
	}
	return m, nil
}

func writeSynced(name string, b []byte, sync bool) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
