package main

import "syscall"

// childProcAttr puts a child in its own process group, so a terminal's
// Ctrl-C reaches only this process, which then stops the child itself,
// and has the kernel kill the child if this process dies without doing so.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
