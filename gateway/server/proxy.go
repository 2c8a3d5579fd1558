package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ParseProxy parses one server.trusted_proxies entry: an IP address, which
// stands for itself alone, or a CIDR prefix.
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("must be an IP address or a CIDR such as 10.0.0.0/8, got %q", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an IP address or a CIDR such as 10.0.0.0/8, got %q", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// trusted reports whether ip is one of the trusted proxies.
func (s *Server) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client that sent the request. A peer that
// is not a trusted proxy is the client. For a trusted one the proxy header
// is read from the right, where the nearest proxy appended the address it
// saw, skipping the entries of trusted proxies: the first other address is
// the client. Entries left of it are whatever the client wrote, so taking
// the leftmost, as Fiber's c.IP() does, would let a client pick its own
// rate-limit key.
// ClientIP is the client's address as the inbound route sees it, for
// handlers mounted beside it (the console's logs).
func (s *Server) ClientIP(c *fiber.Ctx) string { return s.clientIP(c) }

func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if len(s.proxies) == 0 || !s.trusted(peer) {
		return peer.String()
	}
	cur := peer
	values := c.Request().Header.PeekAll(s.opts.ProxyHeader)
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(string(values[i]), ",")
		for j := len(entries) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil {
				// Garbage written by a trusted hop: the nearest
				// address known good stands in for the client.
				return cur.String()
			}
			cur = ip.Unmap()
			if !s.trusted(cur) {
				return cur.String()
			}
		}
	}
	return cur.String()
}
