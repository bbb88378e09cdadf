package webhook

import (
	"net"
	"strconv"
	"syscall"

	"creditdesk/billing"
)

// peerOperator is local: and the Unix user at the other end of c, read from
// the kernel (SO_PEERCRED), not from anything the client says.
func peerOperator(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return billing.LocalOperator()
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return billing.LocalOperator()
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil || cred == nil {
		return billing.LocalOperator()
	}
	return billing.LocalOperatorByUID(strconv.FormatUint(uint64(cred.Uid), 10))
}
