package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/opwatch/opwatch/internal/store"
)

// writers holds the partitions being written. Events come in position
// order, which is nearly time order, so few partitions are open at once;
// past MaxOpen the least recently used one ends its file, and a later event
// of that partition starts its next part. Memory is bounded by MaxOpen row
// groups.
type writers struct {
	opt    Options
	tables map[string]*Table
	run    string
	open   map[partKey]*partWriter
	done   map[partKey][]fileInfo // finished files, in part order
	dirs   []string               // directories this export created
	clock  uint64
	rows   [1]parquet.Row
}

type partWriter struct {
	key     partKey
	info    fileInfo
	f       *os.File
	sum     hash.Hash
	w       *parquet.Writer
	pending int   // rows not yet flushed into a row group
	bytes   int64 // their raw JSON
	used    uint64
}

// fileInfo is one written file.
type fileInfo struct {
	part     int
	tmp      string // absolute path while temporary
	rows     int64
	size     int64
	sha256   string
	min, max time.Time
}

// countingHash writes to the file and the checksum at once, so a file is
// never read back to be summed.
type countingHash struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func (w *writers) write(key partKey, row parquet.Row, e *store.StoredEvent) error {
	pw := w.open[key]
	if pw == nil {
		var err error
		if pw, err = w.start(key); err != nil {
			return err
		}
	}
	w.clock++
	pw.used = w.clock
	w.rows[0] = row
	if _, err := pw.w.WriteRows(w.rows[:]); err != nil {
		return fmt.Errorf("export: write %s: %w", pw.info.tmp, err)
	}
	pw.info.rows++
	if pw.info.min.IsZero() || e.EventTime.Before(pw.info.min) {
		pw.info.min = e.EventTime.UTC()
	}
	if e.EventTime.After(pw.info.max) {
		pw.info.max = e.EventTime.UTC()
	}
	pw.pending++
	pw.bytes += int64(len(e.Raw))
	if pw.pending >= w.opt.RowGroupRows || pw.bytes >= w.opt.RowGroupBytes {
		if err := pw.w.Flush(); err != nil {
			return fmt.Errorf("export: write %s: %w", pw.info.tmp, err)
		}
		pw.pending, pw.bytes = 0, 0
	}
	return nil
}

// start opens the next part file of a partition, ending the least recently
// used open partition first when MaxOpen are open.
func (w *writers) start(key partKey) (*partWriter, error) {
	if len(w.open) >= w.opt.MaxOpen {
		var lru *partWriter
		for _, p := range w.open {
			if lru == nil || p.used < lru.used {
				lru = p
			}
		}
		if err := w.finish(lru); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(w.opt.Out, partitionDir(key))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("export: create %s: %w", dir, err)
		}
		w.dirs = append(w.dirs, dir, filepath.Dir(dir))
	}
	part := len(w.done[key])
	tmp := filepath.Join(dir, tmpName(w.run, part))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("export: create %s: %w", tmp, err)
	}
	pw := &partWriter{key: key, f: f, info: fileInfo{part: part, tmp: tmp}}
	pw.sum = sha256.New()
	t := w.tables[key.logType]
	pw.w = parquet.NewWriter(&countingHash{w: f, h: pw.sum}, t.Schema,
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(int64(w.opt.RowGroupRows)),
		parquet.CreatedBy("opwatch", w.opt.Version, ""),
		parquet.KeyValueMetadata("opwatch.log_type", key.logType),
		parquet.KeyValueMetadata("opwatch.dt", key.day),
	)
	w.open[key] = pw
	w.done[key] = append(w.done[key], fileInfo{}) // reserves the part number
	return pw, nil
}

// finish ends a part file: the footer, fsync, and its checksum.
func (w *writers) finish(pw *partWriter) error {
	delete(w.open, pw.key)
	err := pw.w.Close()
	if err == nil && !w.opt.noSync {
		err = pw.f.Sync()
	}
	if cerr := pw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export: write %s: %w", pw.info.tmp, err)
	}
	st, err := os.Stat(pw.info.tmp)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	pw.info.size = st.Size()
	pw.info.sha256 = hex.EncodeToString(pw.sum.Sum(nil))
	w.done[pw.key][pw.info.part] = pw.info
	return nil
}

func (w *writers) closeAll() error {
	for _, k := range sortedKeys(w.open) {
		if err := w.finish(w.open[k]); err != nil {
			return err
		}
	}
	return nil
}

// abort removes what a failed export wrote; after a commit there is
// nothing left to remove.
func (w *writers) abort() {
	for _, pw := range w.open {
		pw.f.Close()
		os.Remove(pw.info.tmp)
	}
	for _, files := range w.done {
		for _, f := range files {
			if f.tmp != "" {
				os.Remove(f.tmp)
			}
		}
	}
	for _, d := range w.dirs {
		os.Remove(d) // only if empty
	}
}

var (
	partRE = regexp.MustCompile(`^part-([0-9]{4,})\.parquet$`)
	tmpRE  = regexp.MustCompile(`^\.part-[0-9]{4,}\.[0-9a-f]+\.tmp$`)
)

// replace puts a partition's new files in place: each rename replaces the
// file of the same name at once, so a reader sees the old part or the new
// one, never half of one; then parts past the new count, and temporary files
// a crashed export left, are removed. files is empty when the partition has
// no events now.
func (w *writers) replace(key partKey, files []fileInfo) error {
	dir := filepath.Join(w.opt.Out, partitionDir(key))
	for i := range files {
		final := filepath.Join(dir, partName(files[i].part))
		if err := os.Rename(files[i].tmp, final); err != nil {
			return fmt.Errorf("export: put %s in place: %w", final, err)
		}
		files[i].tmp = ""
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: list %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		stale := tmpRE.MatchString(name)
		if m := partRE.FindStringSubmatch(name); m != nil {
			n, err := strconv.Atoi(m[1])
			stale = err != nil || n >= len(files)
		}
		if stale {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("export: remove the stale %s: %w", filepath.Join(dir, name), err)
			}
		}
	}
	if len(files) == 0 {
		os.Remove(dir)               // only if empty: a user's own files stay
		os.Remove(filepath.Dir(dir)) // the log type's, likewise
	}
	return nil
}
