//go:build linux

package manager

import (
	"errors"
	"strings"
	"testing"

	"github.com/mproc/mproc/pickle"
)

// TestXMLRPC checks the xmlrpclib serializer against what CPython's
// xmlrpc.client writes and reads (the strings below are Python's
// dumps((obj,), None, None, None, 1) output).
func TestXMLRPC(t *testing.T) {
	req := "<params>\n<param>\n<value><array><data>\n<value><nil/></value><value><string>create</string></value>\n" +
		"<value><array><data>\n<value><string>get_queue</string></value>\n</data></array></value>\n<value><struct>\n" +
		"<member>\n<name>a</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>b</name>\n<value><base64>\neHk=\n</base64></value>\n</member>\n" +
		"<member>\n<name>c</name>\n<value><double>2.5</double></value>\n</member>\n<member>\n<name>d</name>\n<value><boolean>1</boolean></value>\n</member>\n" +
		"</struct></value>\n</data></array></value>\n</param>\n</params>\n"
	v, err := xmlLoads([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	kw := pickle.NewDict()
	kw.Set("a", int64(1))
	kw.Set("b", []byte("xy"))
	kw.Set("c", 2.5)
	kw.Set("d", true)
	want := pickle.NewList(pickle.None, "create", pickle.NewList("get_queue"), kw)
	if !pickle.Equal(v, want) {
		t.Errorf("loads: %s, want %s", pickle.Repr(v), pickle.Repr(want))
	}
	// dumps writes exactly what Python writes.
	b, err := xmlDumps(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != req {
		t.Errorf("dumps:\n%q\nwant\n%q", b, req)
	}
	for _, c := range []struct {
		v    any
		want string
	}{
		{pickle.Tuple{"#ERROR", pickle.NewObject("builtins", "KeyError", "x")}, "<params>\n<param>\n<value><array><data>\n<value><string>#ERROR</string></value>\n<value><struct>\n</struct></value>\n</data></array></value>\n</param>\n</params>\n"},
		{"a<b&c>d", "<params>\n<param>\n<value><string>a&lt;b&amp;c&gt;d</string></value>\n</param>\n</params>\n"},
		{1e100, "<params>\n<param>\n<value><double>1e+100</double></value>\n</param>\n</params>\n"},
		{[]byte(strings.Repeat("a", 100)), "<params>\n<param>\n<value><base64>\nYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\nYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYQ==\n</base64></value>\n</param>\n</params>\n"},
	} {
		b, err := xmlDumps(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("dumps(%s) = %q, %v; want %q", pickle.Repr(c.v), b, err, c.want)
		}
	}
	// What Python refuses to marshal.
	for _, bad := range []any{int64(1) << 40, pickle.DictOf(int64(1), int64(2)), pickle.Global{Module: "os", Name: "system"}} {
		if _, err := xmlDumps(bad); err == nil {
			t.Errorf("dumps(%s) did not fail", pickle.Repr(bad))
		}
	}
	// Bare text is a string; i8 and i4 are ints; bad input is an error.
	v, err = xmlLoads([]byte("<params><param><value><array><data><value>abc</value><value><i8>5</i8></value></data></array></value></param></params>"))
	if err != nil || !pickle.Equal(v, pickle.NewList("abc", int64(5))) {
		t.Errorf("loads of bare text and i8: %v %v", v, err)
	}
	deep := strings.Repeat("<value><array><data>", maxXMLDepth+5)
	for _, bad := range []string{"", "<params>", "<params><param><value><int>x</int></value></param></params>", "<params><param><value><foo/></value></param></params>", deep, "\x00\x01"} {
		if _, err := xmlLoads([]byte(bad)); err == nil {
			t.Errorf("loads(%.40q) did not fail", bad)
		} else if errors.Is(err, errMessageTooLarge) {
			t.Error(err)
		}
	}
}
