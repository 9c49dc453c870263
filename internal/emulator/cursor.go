package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// A cursor carries everything needed to serve the next page, so the server
// keeps no per-client state: the stream (account, feature, API version), the
// position (ingestion sequence number of the next event to examine), the page
// size and the time filter of the reset that started it. It is signed with
// HMAC-SHA256, so a garbled, tampered or foreign cursor is rejected, and it is
// url-safe base64 of about 100-120 characters (real ones are about 200).
type cursorState struct {
	account string
	feature int
	version int
	pos     int // next generated event (timeline index)
	inj     int // next injected event (see InjectLate)
	limit   int
	start   int64 // Unix ns: events with earlier timestamps are skipped
	end     int64 // Unix ns, when hasEnd: later events are skipped
	hasEnd  bool
}

const (
	cursorFormat   = 2 // 2 added the injected position
	macSize        = sha256.Size
	maxCursorChars = 512
	maxAccountLen  = 64
)

var errBadCursor = errors.New("invalid cursor")

// The payload is fixed-width so that every cursor of an account has the same
// length: format, feature, version, pos (8), inj (4), limit (2), start (8),
// end (8, valid when hasEnd), flags, account length (1) and account; then
// the MAC.
func encodeCursor(key []byte, c cursorState) string {
	b := make([]byte, 0, 96)
	flags := byte(0)
	if c.hasEnd {
		flags = 1
	}
	b = append(b, cursorFormat, byte(c.feature), byte(c.version))
	b = binary.BigEndian.AppendUint64(b, uint64(c.pos))
	b = binary.BigEndian.AppendUint32(b, uint32(c.inj))
	b = binary.BigEndian.AppendUint16(b, uint16(c.limit))
	b = binary.BigEndian.AppendUint64(b, uint64(c.start))
	b = binary.BigEndian.AppendUint64(b, uint64(c.end))
	b = append(b, flags, byte(len(c.account)))
	b = append(b, c.account...)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = m.Sum(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const cursorFixed = 3 + 8 + 4 + 2 + 8 + 8 + 2

// decodeCursor accepts url-safe or standard base64, padded or not.
func decodeCursor(key []byte, s string) (cursorState, error) {
	var c cursorState
	if len(s) > maxCursorChars {
		return c, errBadCursor
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < cursorFixed+macSize {
		return c, errBadCursor
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), sum) {
		return c, errBadCursor
	}
	// Signed by us, so well-formed unless the format changed; check anyway.
	c.feature, c.version = int(body[1]), int(body[2])
	pos := binary.BigEndian.Uint64(body[3:])
	inj := binary.BigEndian.Uint32(body[11:])
	c.limit = int(binary.BigEndian.Uint16(body[15:]))
	c.start = int64(binary.BigEndian.Uint64(body[17:]))
	c.end = int64(binary.BigEndian.Uint64(body[25:]))
	flags, n := body[33], int(body[34])
	if body[0] != cursorFormat || c.feature >= numFeatures || (c.version != 1 && c.version != 2) ||
		pos > 1<<53 || inj > maxInjected || c.limit < 1 || c.limit > maxLimit || flags > 1 || n > maxAccountLen || len(body) != cursorFixed+n {
		return cursorState{}, errBadCursor
	}
	c.pos, c.inj, c.hasEnd, c.account = int(pos), int(inj), flags == 1, string(body[cursorFixed:])
	return c, nil
}
