//go:build linux

package manager

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/mproc/mproc/pickle"
)

// The 'xmlrpclib' serializer of Python's managers (BaseManager(...,
// serializer='xmlrpclib')): each message is xmlrpc.client.dumps((obj,),
// None, None, None, 1), i.e. a <params> element holding one <param> in
// XML-RPC's encoding with the nil extension, instead of a pickle. Python
// decodes it with xmlrpc.client.loads: arrays become lists, structs dicts,
// base64 xmlrpc.client.Binary (equal to the bytes), dateTime.iso8601
// xmlrpc.client.DateTime.
//
// The value model here: nil ↔ None, boolean ↔ bool, i1/i2/i4/i8/int ↔
// int64 (written as <int>, within XML-RPC's 32-bit range as Python
// requires), double ↔ float64, string (or bare text) ↔ string, base64 ↔
// []byte, array ↔ *pickle.List, struct ↔ *pickle.Dict with str keys,
// dateTime.iso8601 ↔ xmlDateTime. Exceptions (an '#ERROR' result) are
// written as Python writes an instance: the struct of its __dict__, empty.
// Anything else cannot be written (Python's TypeError "cannot marshal"),
// and the reply becomes '#UNSERIALIZABLE', as CPython's server does.

// serializerXMLRPC is the name of the XML-RPC serializer.
const serializerXMLRPC = "xmlrpclib"

// xmlDateTime is an XML-RPC dateTime.iso8601 value, kept as its text.
type xmlDateTime string

// maxXMLDepth bounds the nesting of XML-RPC values.
const maxXMLDepth = 200

// xmlLoads decodes one XML-RPC message: <params><param><value/></param>
// </params>, optionally inside <methodResponse> and after an XML
// declaration.
func xmlLoads(b []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var out any
	found := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "methodResponse", "params", "param":
			continue
		case "value":
			if found {
				return nil, errors.New("more than one value in the message")
			}
			v, err := xmlValue(d, 0)
			if err != nil {
				return nil, err
			}
			out, found = v, true
		default:
			return nil, fmt.Errorf("unexpected <%s>", se.Name.Local)
		}
	}
	if !found {
		return nil, errors.New("no <value> in the message")
	}
	return out, nil
}

// xmlValue decodes the content of a <value> element whose start was read,
// through its end.
func xmlValue(d *xml.Decoder, depth int) (any, error) {
	if depth > maxXMLDepth {
		return nil, fmt.Errorf("values nested deeper than %d", maxXMLDepth)
	}
	var text strings.Builder
	var v any
	typed := false
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !typed {
				text.Write(t)
			}
		case xml.StartElement:
			if typed {
				return nil, fmt.Errorf("<%s> after the value's type", t.Name.Local)
			}
			typed = true
			if v, err = xmlTyped(d, t.Name.Local, depth); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if t.Name.Local != "value" {
				return nil, fmt.Errorf("unexpected </%s>", t.Name.Local)
			}
			if !typed {
				return text.String(), nil // a bare <value>text</value> is a string
			}
			return v, nil
		}
	}
}

// xmlTyped decodes the typed element name (its start was read) through its
// end.
func xmlTyped(d *xml.Decoder, name string, depth int) (any, error) {
	switch name {
	case "array":
		return xmlArray(d, depth)
	case "struct":
		return xmlStruct(d, depth)
	case "nil":
		if _, err := xmlText(d, name); err != nil {
			return nil, err
		}
		return pickle.None, nil
	}
	s, err := xmlText(d, name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "string":
		return s, nil
	case "int", "i1", "i2", "i4", "i8":
		n, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
		if !ok {
			return nil, fmt.Errorf("bad <%s> %q", name, s)
		}
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, fmt.Errorf("bad boolean value %q", s)
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("bad <double> %q", s)
		}
		return f, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, fmt.Errorf("bad <base64>: %v", err)
		}
		return b, nil
	case "dateTime.iso8601":
		return xmlDateTime(strings.TrimSpace(s)), nil
	}
	return nil, fmt.Errorf("unknown XML-RPC type <%s>", name)
}

// xmlText reads the text of a leaf element through its end.
func xmlText(d *xml.Decoder, name string) (string, error) {
	var s strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			s.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("<%s> inside <%s>", t.Name.Local, name)
		case xml.EndElement:
			return s.String(), nil
		}
	}
}

// xmlArray decodes <array><data><value/>...</data></array>.
func xmlArray(d *xml.Decoder, depth int) (any, error) {
	l := &pickle.List{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "data":
			case "value":
				v, err := xmlValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				l.Items = append(l.Items, v)
			default:
				return nil, fmt.Errorf("unexpected <%s> in <array>", t.Name.Local)
			}
		case xml.EndElement:
			if t.Name.Local == "array" {
				return l, nil
			}
		}
	}
}

// xmlStruct decodes <struct><member><name/><value/></member>...</struct>.
func xmlStruct(d *xml.Decoder, depth int) (any, error) {
	m := pickle.NewDict()
	var name *string
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "member":
				name = nil
			case "name":
				s, err := xmlText(d, "name")
				if err != nil {
					return nil, err
				}
				name = &s
			case "value":
				if name == nil {
					return nil, errors.New("<value> without <name> in <struct>")
				}
				v, err := xmlValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				if err := m.Set(*name, v); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("unexpected <%s> in <struct>", t.Name.Local)
			}
		case xml.EndElement:
			if t.Name.Local == "struct" {
				return m, nil
			}
		}
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// xmlDumps encodes v as xmlrpc.client.dumps((v,), None, None, None, 1)
// does.
func xmlDumps(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("<params>\n<param>\n")
	if err := xmlDump(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteString("</param>\n</params>\n")
	return b.Bytes(), nil
}

// xmlDump writes one <value>, as Python's xmlrpc.client.Marshaller does.
func xmlDump(b *bytes.Buffer, v any, depth int) error {
	if depth > maxXMLDepth {
		return errors.New("ValueError: value nested too deeply for XML-RPC")
	}
	switch x := v.(type) {
	case nil, pickle.NoneType:
		b.WriteString("<value><nil/></value>")
	case bool:
		if x {
			b.WriteString("<value><boolean>1</boolean></value>\n")
		} else {
			b.WriteString("<value><boolean>0</boolean></value>\n")
		}
	case int64:
		if x > math.MaxInt32 || x < math.MinInt32 {
			return errors.New("OverflowError: int exceeds XML-RPC limits")
		}
		fmt.Fprintf(b, "<value><int>%d</int></value>\n", x)
	case int:
		return xmlDump(b, int64(x), depth)
	case *big.Int:
		if !x.IsInt64() {
			return errors.New("OverflowError: int exceeds XML-RPC limits")
		}
		return xmlDump(b, x.Int64(), depth)
	case float64:
		fmt.Fprintf(b, "<value><double>%s</double></value>\n", reprFloat(x))
	case string:
		b.WriteString("<value><string>")
		xmlEscape(b, x)
		b.WriteString("</string></value>\n")
	case []byte:
		xmlBase64(b, x)
	case pickle.ByteArray:
		xmlBase64(b, x)
	case xmlDateTime:
		b.WriteString("<value><dateTime.iso8601>")
		xmlEscape(b, string(x))
		b.WriteString("</dateTime.iso8601></value>\n")
	case pickle.Tuple:
		return xmlDumpArray(b, x, depth)
	case *pickle.List:
		return xmlDumpArray(b, x.Items, depth)
	case *pickle.Dict:
		b.WriteString("<value><struct>\n")
		for k, val := range x.All() {
			ks, ok := k.(string)
			if !ok {
				return errors.New("TypeError: dictionary key must be string")
			}
			b.WriteString("<member>\n<name>")
			xmlEscape(b, ks)
			b.WriteString("</name>\n")
			if err := xmlDump(b, val, depth+1); err != nil {
				return err
			}
			b.WriteString("</member>\n")
		}
		b.WriteString("</struct></value>\n")
	default:
		if pickle.IsException(v) {
			// An instance: the struct of its __dict__, empty for an
			// exception.
			b.WriteString("<value><struct>\n</struct></value>\n")
			return nil
		}
		return fmt.Errorf("TypeError: cannot marshal %s objects", pythonClass(v))
	}
	return nil
}

func xmlDumpArray(b *bytes.Buffer, items []any, depth int) error {
	b.WriteString("<value><array><data>\n")
	for _, it := range items {
		if err := xmlDump(b, it, depth+1); err != nil {
			return err
		}
	}
	b.WriteString("</data></array></value>\n")
	return nil
}

// xmlBase64 writes bytes as base64.encodebytes does: lines of 76
// characters, each ending in a newline.
func xmlBase64(b *bytes.Buffer, p []byte) {
	b.WriteString("<value><base64>\n")
	enc := base64.StdEncoding.EncodeToString(p)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	if len(enc) > 0 {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	b.WriteString("</base64></value>\n")
}

// xmlEscape escapes &, < and > as xmlrpc.client.escape does.
func xmlEscape(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
}

// pythonClass names v's Python class for an error message.
func pythonClass(v any) string {
	return "<class '" + typeName(v) + "'>"
}
