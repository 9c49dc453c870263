package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MaxDecoded bounds what one compressed segment may expand to, so that a
// damaged or hostile database cannot make a reader allocate without limit.
// Segments are written far below it (see MaxBytes).
const MaxDecoded = 64 << 20

// MaxEvents and MaxBytes bound one segment as written: big enough that the
// compressor sees the repetition between events (the gain flattens out past a
// few hundred events), small enough that reading one event of it (an alert's
// match, an indicator hit) decodes little.
const (
	MaxEvents = 512
	MaxBytes  = 1 << 20
)

// Codec compresses segments with zstd. One Codec is shared by a store's
// connections; its encoder and decoder are safe for concurrent use.
type Codec struct {
	once sync.Once
	enc  *zstd.Encoder
	dec  *zstd.Decoder
	err  error
}

func (c *Codec) init() {
	c.once.Do(func() {
		c.enc, c.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
		if c.err != nil {
			return
		}
		c.dec, c.err = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxDecoded), zstd.WithDecoderConcurrency(0))
	})
}

// Compress appends the compressed src to dst.
func (c *Codec) Compress(dst, src []byte) ([]byte, error) {
	c.init()
	if c.err != nil {
		return nil, fmt.Errorf("start zstd: %w", c.err)
	}
	return c.enc.EncodeAll(src, dst), nil
}

// Decompress appends the decompressed src to dst.
func (c *Codec) Decompress(dst, src []byte) ([]byte, error) {
	c.init()
	if c.err != nil {
		return nil, fmt.Errorf("start zstd: %w", c.err)
	}
	out, err := c.dec.DecodeAll(src, dst)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return out, nil
}
