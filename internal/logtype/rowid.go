package logtype

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// RowIDs makes p_row_id values: 32 lowercase hexadecimal characters, like
// Panther's. An ID is a random 8-byte prefix, drawn once, followed by a
// 64-bit counter that starts at the creation time in nanoseconds. IDs are
// unique within a RowIDs, and across RowIDs (other processes, replicas,
// restarts) unless two of them draw the same 64-bit prefix. Next makes no
// system call and is safe for concurrent use.
type RowIDs struct {
	prefix [8]byte
	count  atomic.Uint64
}

// NewRowIDs returns a generator with a fresh random prefix.
func NewRowIDs() *RowIDs {
	r := &RowIDs{}
	rand.Read(r.prefix[:]) // never fails: crypto/rand crashes the program instead
	r.count.Store(uint64(time.Now().UnixNano()))
	return r
}

// Next returns a new ID.
func (r *RowIDs) Next() string {
	var id [16]byte
	copy(id[:8], r.prefix[:])
	binary.BigEndian.PutUint64(id[8:], r.count.Add(1))
	var text [32]byte
	hex.Encode(text[:], id[:])
	return string(text[:])
}
