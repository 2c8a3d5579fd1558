package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlockedAddress is returned (wrapped) when a destination that may not
// reach private networks resolves to such an address.
var ErrBlockedAddress = errors.New("address not allowed")

// Resolver looks up a host's addresses; *net.Resolver satisfies it, and
// tests inject a map.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// blockedPrefixes are the networks a destination without AllowPrivate may
// not reach: loopback, RFC 1918 and ULA, link-local (which holds the cloud
// metadata addresses 169.254.169.254 and fd00:ec2::254's neighbours), CGNAT
// (Alibaba's 100.100.100.200), unspecified, multicast, broadcast and the
// special-purpose blocks that route somewhere local.
//
// IPv6 forms that carry an IPv4 address inside them are refused whole,
// whatever they embed: IPv4-compatible ::/96 (deprecated), IPv4-translated
// ::ffff:0:0:0/96 (SIIT), 6to4 2002::/16 and Teredo 2001::/32 (both
// deprecated relays, RFC 7526 and RFC 4380), and the local-use NAT64 prefix
// 64:ff9b:1::/48. A host or relay on the way would turn them into a private
// IPv4 address, and no real destination needs them. The one exception is the
// well-known NAT64 prefix 64:ff9b::/96, which DNS64 networks give public
// hosts: blocked judges the IPv4 address it embeds instead (see blocked).
// IPv4-mapped ::ffff:0:0/96 is judged as its IPv4 address by Unmap.
var blockedPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32",
		"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
		"::/96", "::ffff:0:0:0/96", "2002::/16", "2001::/32",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// metadataAddrs are cloud metadata endpoints, listed on their own so the
// guard still names them if a prefix above is ever narrowed.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("169.254.170.2"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
}

// nat64 is the well-known NAT64 prefix (RFC 6052).
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// blocked says whether ip is outside the public internet.
func blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	if metadataAddrs[ip] {
		return true
	}
	// NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one.
	if nat64.Contains(ip) {
		b := ip.As16()
		return blocked(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guardControl refuses a socket whose peer is not public. It runs after
// resolution, on the very address being connected, so a name that
// re-resolves to 127.0.0.1 (DNS rebinding) is caught too.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrBlockedAddress, address)
	}
	if blocked(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrBlockedAddress, ap.Addr().Unmap())
	}
	return nil
}

// newDialContext dials through resolver, trying each address in turn; when
// allowPrivate is false every connect passes guardControl.
func newDialContext(resolver Resolver, allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = guardControl
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dialer.DialContext(ctx, network, addr)
		}
		ips, err := resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: no addresses", host)
		}
		var errs []error
		for _, ip := range ips {
			target := ip.IP.String()
			if ip.Zone != "" {
				target += "%" + ip.Zone
			}
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(target, port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}
