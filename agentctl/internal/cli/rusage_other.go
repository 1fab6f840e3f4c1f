//go:build !linux

package cli

// peakRSS is not measured outside Linux (ru_maxrss units differ by OS).
func peakRSS() int64 { return 0 }
