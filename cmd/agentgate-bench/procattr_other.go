//go:build !linux

package main

import "syscall"

// childProcAttr: only Linux has parent-death signals (and /proc, for the
// CPU figures); elsewhere children keep the defaults.
func childProcAttr() *syscall.SysProcAttr { return nil }
