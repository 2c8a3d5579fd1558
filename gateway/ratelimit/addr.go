package ratelimit

import "net/netip"

// Address is a client address as a limit counts it: an IPv4 address as
// is (an IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64. One
// host is commonly given a whole /64, so counting single IPv6 addresses
// would let it take 2^64 fresh limits. An address that does not parse is
// used as it is. The inbound limit and the admin-key slowdown share it.
func Address(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.WithZone("").Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return a.String()
}
