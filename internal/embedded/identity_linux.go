package embedded

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// checkListener tells whether the sockets that a connection to
// 127.0.0.1:port reaches belong to processes of process group pgid (a
// replica's processes): "" when they do, else why not. An external
// command binds its port itself, so a port that accepts connections may
// still be another process's (another replica that took the port while
// this one was starting). The kernel's socket table (/proc/net/tcp*) names
// the listening sockets' inodes, and /proc/PID/fd the processes that hold
// them. Without /proc the check is skipped.
func checkListener(port, pgid int) string {
	inodes, err := listeningInodes(port)
	if err != nil {
		return "" // no socket table to look at
	}
	if len(inodes) == 0 {
		return fmt.Sprintf("nothing listens on 127.0.0.1:%d", port)
	}
	ours := map[string]bool{}
	for _, pid := range groupMembers(pgid) {
		for _, ino := range socketInodes(pid) {
			ours[ino] = true
		}
	}
	for _, ino := range inodes {
		if !ours[ino] {
			return fmt.Sprintf("127.0.0.1:%d is served by another process%s, not by this replica", port, ownerOf(ino))
		}
	}
	return ""
}

// listeningInodes lists the inodes of the TCP sockets in LISTEN state on
// port that 127.0.0.1 reaches (bound to 127.0.0.1, 0.0.0.0, :: or
// ::ffff:127.0.0.1).
func listeningInodes(port int) ([]string, error) {
	var out []string
	read := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		read++
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // header
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			ip, p, ok := parseProcAddr(f[1])
			if !ok || p != port {
				continue
			}
			if ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.IsUnspecified() {
				out = append(out, f[9])
			}
		}
	}
	if read == 0 {
		return nil, os.ErrNotExist
	}
	return out, nil
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words in the kernel's byte order, the port in hex.
func parseProcAddr(s string) (net.IP, int, bool) {
	addr, portHex, ok := strings.Cut(s, ":")
	if !ok || (len(addr) != 8 && len(addr) != 32) {
		return nil, 0, false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	raw, err := hex.DecodeString(addr)
	if err != nil {
		return nil, 0, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return ip, int(port), true
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.pgrp == pgid && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

type procStatus struct {
	state byte
	pgrp  int
	comm  string
}

// procStat reads /proc/PID/stat: "pid (comm) state ppid pgrp ...".
func procStat(pid int) (procStatus, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStatus{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStatus{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return procStatus{}, false
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStatus{}, false
	}
	return procStatus{state: f[0][0], pgrp: pgrp, comm: string(b[open+1 : end])}, true
}

// socketInodes lists the socket inodes a process holds open.
func socketInodes(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") && strings.HasSuffix(link, "]") {
			out = append(out, link[len("socket:["):len(link)-1])
		}
	}
	return out
}

// ownerOf names the process holding a socket inode, as far as this user
// may look: " (pid 123, python3)", or "".
func ownerOf(inode string) string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return ""
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for _, ino := range socketInodes(pid) {
			if ino == inode {
				st, _ := procStat(pid)
				return fmt.Sprintf(" (pid %d, %s)", pid, st.comm)
			}
		}
	}
	return ""
}
