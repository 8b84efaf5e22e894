package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU per request is the steadiest figure on a shared machine: a target's
// requests per second move with whatever else runs on the two cores, the
// CPU it spends on each request much less. It is read from /proc (user +
// system time) for the target's processes and their children (nginx's
// workers), Redis included for the targets that use it.

// clockTick is Linux's USER_HZ: /proc times are in hundredths of a second.
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time of pid and of its direct children.
func procCPU(pid int) time.Duration {
	total := statCPU(pid)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppidOf(child) == pid {
			total += statCPU(child)
		}
	}
	return total
}

// statFields returns /proc/pid/stat's fields after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ppidOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func statCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 of stat (utime, stime) are 11 and 12 here.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

func cpuOf(pids []int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		t += procCPU(p)
	}
	return t
}
