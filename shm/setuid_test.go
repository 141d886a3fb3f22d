package shm_test

import "syscall"

func setUID(uid int) error { return syscall.Setuid(uid) }
