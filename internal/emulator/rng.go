package emulator

// Everything the emulator serves is derived from hashes of (seed, account,
// feature, event index), so event i can be produced on demand, in any order,
// without storing anything: the store of events is O(1) in their number.

const gamma = 0x9e3779b97f4a7c15 // splitmix64's increment (2^64 / phi)

// mix is the splitmix64 finaliser: a good 64-bit bijective hash.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hashString is FNV-1a, finalised with mix.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix(h)
}

// rng is a splitmix64 generator: tiny, fast, and seeded per event.
type rng struct{ state uint64 }

func newRNG(key uint64) rng { return rng{state: mix(key)} }

func (r *rng) next() uint64 {
	r.state += gamma
	return mix(r.state)
}

// intn returns a number in [0, n); n must be positive. The modulo bias is
// irrelevant for synthetic data.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// pick returns an index drawn with the given integer weights; total must be
// their sum.
func (r *rng) pick(weights []int, total int) int {
	x := r.intn(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// weighted is a table of weights with its total, for rng.pick.
type weighted struct {
	weights []int
	total   int
}

func newWeighted(weights []int) weighted {
	t := 0
	for _, w := range weights {
		t += w
	}
	return weighted{weights: weights, total: t}
}

func (r *rng) pickW(w weighted) int { return r.pick(w.weights, w.total) }
