package pickle_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/mproc/mproc/pickle"
)

// A request as multiprocessing's manager client sends it:
// pickle.dumps(('7f00', '__getitem__', ('a',), {}), protocol=4).
var requestPickle = []byte("\x80\x04\x95!\x00\x00\x00\x00\x00\x00\x00(\x8c\x047f00\x94\x8c\x0b__getitem__\x94\x8c\x01a\x94\x85\x94}\x94t\x94.")

func ExampleLoads() {
	v, err := pickle.Loads(requestPickle)
	if err != nil {
		panic(err)
	}
	req := v.(pickle.Tuple)
	fmt.Println(req[0], req[1], req[2].(pickle.Tuple)[0], req[3].(*pickle.Dict).Len())
	// Output: 7f00 __getitem__ a 0
}

func ExampleDumps() {
	reply := pickle.Tuple{"#RETURN", int64(1)}
	b, err := pickle.Dumps(reply, 2)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", b)
	// Output: "\x80\x02X\a\x00\x00\x00#RETURNq\x00K\x01\x86q\x01."
}

func ExampleRepr() {
	fmt.Println(pickle.Repr(pickle.Tuple{None(), "a", pickle.NewList(1, 2.5), []byte("b")}))
	// Output: (None, 'a', [1, 2.5], b'b')
}

func None() any { return pickle.None }

type Job struct {
	ID    int      `pickle:"id"`
	Name  string   `pickle:"name"`
	Tags  []string `pickle:"tags,omitempty"`
	Retry bool     `pickle:"-"`
}

func ExampleMarshal() {
	b, err := pickle.Marshal(Job{ID: 7, Name: "build"})
	if err != nil {
		panic(err)
	}
	v, _ := pickle.Loads(b)
	fmt.Println(pickle.Repr(v))
	// Output: {'id': 7, 'name': 'build'}
}

func ExampleUnmarshal() {
	// pickle.dumps({'id': 7, 'name': 'build', 'tags': ['a']}, protocol=2)
	data := []byte("\x80\x02}q\x00(X\x02\x00\x00\x00idq\x01K\x07X\x04\x00\x00\x00nameq\x02X\x05\x00\x00\x00buildq\x03X\x04\x00\x00\x00tagsq\x04]q\x05X\x01\x00\x00\x00aq\x06au.")
	var job Job
	if err := pickle.Unmarshal(data, &job); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", job)

	var n int
	err := pickle.Unmarshal(data, &n)
	fmt.Println(errors.Is(err, pickle.ErrTypeMismatch), err)
	// Output:
	// {ID:7 Name:build Tags:[a] Retry:false}
	// true pickle: cannot unmarshal Python dict into Go value of type int
}

func ExampleDict() {
	d := pickle.NewDict()
	_ = d.Set(1, "int")
	_ = d.Set(1.0, "float") // 1 == 1.0 in Python: same key
	_ = d.Set(pickle.Tuple{1, "x"}, "tuple")
	err := d.Set(pickle.NewList(), "list")
	v, _ := d.Get(true) // True == 1 too
	fmt.Println(d.Len(), v, errors.Is(err, pickle.ErrUnhashable))
	fmt.Println(pickle.Repr(d))
	// Output:
	// 2 float true
	// {1: 'float', (1, 'x'): 'tuple'}
}

func ExampleSet() {
	s := pickle.SetOf(1, 2)
	_ = s.Add(2.0)
	fmt.Println(s.Len(), s.Has(1.0), pickle.Equal(s, pickle.FrozenSetOf(2, 1)))
	// Output: 2 true true
}

func ExampleFrozenSet() {
	key := pickle.FrozenSetOf("a", "b")
	d := pickle.DictOf(key, 1)
	v, ok := d.Get(pickle.FrozenSetOf("b", "a"))
	fmt.Println(v, ok)
	// Output: 1 true
}

func ExampleList() {
	l := pickle.NewList("a")
	l.Append(l) // a list that contains itself
	b, _ := pickle.Marshal(l)
	v, _ := pickle.Loads(b)
	got := v.(*pickle.List)
	fmt.Println(got.Len(), got.Items[1] == got)
	// Output: 2 true
}

func ExampleNewInstance() {
	// multiprocessing.managers.Token('dict', ('127.0.0.1', 5000), '7f00'),
	// pickled the way CPython does: NEWOBJ then BUILD with the state tuple.
	token := pickle.NewInstance("multiprocessing.managers", "Token",
		pickle.Tuple{"dict", pickle.Tuple{"127.0.0.1", 5000}, "7f00"})
	b, _ := pickle.Marshal(token)
	v, _ := pickle.Loads(b)
	o := v.(*pickle.Object)
	fmt.Println(o.Class(), o.New, pickle.Repr(o.State))
	// Output: multiprocessing.managers.Token true ('dict', ('127.0.0.1', 5000), '7f00')
}

func ExampleNewObject() {
	d := pickle.NewObject("decimal", "Decimal", "1.50")
	fmt.Println(d)
	// Output: decimal.Decimal('1.50')
}

func ExampleExceptionInfo() {
	reply := pickle.Tuple{"#ERROR", pickle.Exception("builtins", "KeyError", "k")}
	b, _ := pickle.Marshal(reply)
	v, _ := pickle.Loads(b)
	cls, args, ok := pickle.ExceptionInfo(v.(pickle.Tuple)[1])
	fmt.Println(ok, cls.Name, args[0])
	// Output: true KeyError k
}

func ExampleGlobal() {
	v, _ := pickle.Loads([]byte("\x80\x02c__builtin__\nlen\nq\x00."))
	fmt.Println(v == pickle.Global{Module: "builtins", Name: "len"})
	// Output: true
}

func ExampleEncoder() {
	var stream bytes.Buffer
	enc := pickle.NewEncoder(&stream, &pickle.EncoderOptions{Protocol: 5})
	_ = enc.Encode(pickle.ByteArray("ab"))
	_ = enc.Encode(map[string]int{"n": 1})

	dec := pickle.NewDecoder(&stream, nil)
	first, _ := dec.Load()
	var second map[string]int
	_ = dec.Decode(&second)
	_, err := dec.Load()
	fmt.Printf("%T %v %v\n", first, second, err)
	// Output: pickle.ByteArray map[n:1] EOF
}

func ExampleDecoderOptions() {
	deep := strings.Repeat("(", 100) + "N."
	_, err := pickle.LoadsWith([]byte(deep), &pickle.DecoderOptions{Limits: pickle.Limits{MaxDepth: 50}})
	var de *pickle.DecodeError
	fmt.Println(errors.Is(err, pickle.ErrTooDeep), errors.Is(err, pickle.ErrLimit), errors.As(err, &de), de.Offset)
	// Output: true true true 50
}

type celsius float64

func (c celsius) MarshalPickle() (any, error) {
	return pickle.NewObject("__main__", "Celsius", float64(c)), nil
}

func ExampleMarshaler() {
	b, _ := pickle.Marshal([]celsius{21.5})
	v, _ := pickle.Loads(b)
	fmt.Println(pickle.Repr(v))
	// Output: [__main__.Celsius(21.5)]
}
