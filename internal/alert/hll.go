package alert

import (
	"math"
	"math/bits"
)

// hllPrecision is the HyperLogLog's p: 2^11 one-byte registers, 2 KiB per
// client, with a standard error of 1.04/√2048 ≈ 2.3% — far finer than the
// difference between a client's normal spread of indicators and an
// enumeration.
const hllPrecision = 11

const hllRegisters = 1 << hllPrecision

// hll counts distinct 64-bit digests in fixed memory. The estimate is
// kept up to date as registers change (the harmonic sum and the count of
// empty registers), so reading it on every add is O(1).
type hll struct {
	reg   [hllRegisters]uint8
	sum   float64 // Σ 2^-reg[j]
	zeros int     // registers still 0
}

func (h *hll) reset() {
	h.reg = [hllRegisters]uint8{}
	h.sum, h.zeros = hllRegisters, hllRegisters
}

// add counts x and reports whether the estimate may have changed.
func (h *hll) add(x uint64) bool {
	x = mix64(x) // the caller's digest need not be well mixed
	j := x >> (64 - hllPrecision)
	w := x<<hllPrecision | 1<<(hllPrecision-1) // bound rho
	rho := uint8(bits.LeadingZeros64(w) + 1)
	if rho <= h.reg[j] {
		return false
	}
	if h.reg[j] == 0 {
		h.zeros--
	}
	h.sum += math.Ldexp(1, -int(rho)) - math.Ldexp(1, -int(h.reg[j]))
	h.reg[j] = rho
	return true
}

// estimate is the number of distinct digests added since reset.
func (h *hll) estimate() float64 {
	const m = float64(hllRegisters)
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / h.sum
	if e <= 2.5*m && h.zeros > 0 {
		return m * math.Log(m/float64(h.zeros)) // linear counting: exact-ish for small sets
	}
	return e
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
