package kubeenv

import "syscall"

// The processes die with the test binary even when it is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
