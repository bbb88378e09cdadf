//go:build !linux

package webhook

import (
	"net"

	"creditdesk/billing"
)

// peerOperator is the user running this process where the kernel's peer
// credentials are not read (the socket is 0600, so only that user, or
// root, can connect).
func peerOperator(net.Conn) string { return billing.LocalOperator() }
