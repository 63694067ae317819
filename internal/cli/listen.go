package cli

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// CheckListen checks a listen address flag, HOST:PORT (an empty host
// listens on every interface), before a server starts, so that a port out
// of range or an address that does not parse is bad input.
func CheckListen(flag, addr string) error {
	bad := func(why string) error {
		return InputErrorf("%s %q: %s; want HOST:PORT, e.g. 127.0.0.1:8080 (:8080 listens on every interface)", flag, addr, why)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return bad(fmt.Sprintf("port %q is not a number 0..65535", port))
	}
	if host != "" && net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(host))) > 0 {
		return bad(fmt.Sprintf("host %q is neither an IP address nor a host name", host))
	}
	return nil
}

// PrintListening prints a server's address once it serves: text, or
// {"listen": "http://ADDR"} as JSON or YAML.
func PrintListening(w io.Writer, format, addr string) {
	info := map[string]string{"listen": "http://" + addr}
	_ = Write(w, format, info, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "listening: http://%s\n", addr)
		return err
	})
}
