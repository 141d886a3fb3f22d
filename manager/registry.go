//go:build linux

package manager

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mproc/mproc/pickle"
)

// Object is a managed object of a custom type (Python's
// BaseManager.register(typeid, callable)): the server calls CallMethod for
// every exposed method a client calls, with c.Method naming it. It returns
// a value in pickle's value model (or anything pickle.Marshal accepts), a
// *PyError to raise an exception in the caller, or ErrNoMethod if it has no
// such method. Methods may be called from several connections at once.
//
// An Object may also implement:
//
//	PublicMethods() []string       the default exposed list (Python's public_methods)
//	String() string                str(obj) and repr(obj) for Python clients
//	Repr() string                  repr(obj), if it differs from String
//	Value() (any, error)           a copy for '#GETVALUE' (_getvalue())
type Object interface {
	CallMethod(c *Call) (any, error)
}

// Methods is an Object made of a table of method functions; its public
// methods are its names that do not start with '_'.
type Methods map[string]func(c *Call) (any, error)

// CallMethod runs the method named c.Method.
func (m Methods) CallMethod(c *Call) (any, error) {
	f, ok := m[c.Method]
	if !ok {
		return nil, ErrNoMethod
	}
	return f(c)
}

// PublicMethods returns the sorted names not starting with '_'.
func (m Methods) PublicMethods() []string {
	var out []string
	for name := range m {
		if !strings.HasPrefix(name, "_") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Type is a registered type of managed object, Python's
// BaseManager.register(typeid, callable, proxytype, exposed,
// method_to_typeid, create_method).
type Type struct {
	// TypeID names the type in create requests and Tokens.
	TypeID string

	// New makes a new object for create(TypeID, *args, **kwds); the
	// call's Args and Kwargs hold them. Nil means clients cannot create
	// the type by name: its objects come from methods listed in another
	// type's MethodToTypeID, which return them.
	New func(c *Call) (Object, error)

	// Exposed lists the methods clients may call. Nil means the object's
	// PublicMethods. The names of MethodToTypeID are added, as Python
	// does.
	Exposed []string

	// MethodToTypeID maps a method to the typeid of its result: the
	// client receives a proxy ('#PROXY') for a new object of that type,
	// made from the result (by New with the result as its one argument,
	// or the result itself when it is an Object and the type has no
	// New).
	MethodToTypeID map[string]string

	// Proxy is the Python proxy class (in multiprocessing.managers) that
	// a pickled proxy of this type names, for Python clients that
	// unpickle one: "DictProxy", "AcquirerProxy", ... Empty means
	// AutoProxy, which builds its methods from the exposed list, as for a
	// type registered without a proxytype.
	Proxy string

	// NoCreate refuses create requests for this type even if New is set
	// (Python's create_method=False only hides the client-side method;
	// the CPython server still accepts create for any registered typeid).
	NoCreate bool

	// Base names a SyncManager type ("Queue", "dict", "Lock", ...) whose
	// objects this type makes, with that type's exposed methods, proxy
	// class and MethodToTypeID unless set here: Python's
	// register("get_queue", callable=queue.Queue). Set New or Base, not
	// both.
	Base string

	// Shared makes every create return the same object: the first create
	// makes it, later ones return a new reference to it (under the same id
	// while it is referenced). It is Python's register("get_queue",
	// callable=lambda: queue), where the callable returns one object, as
	// in the "remote manager" example of the multiprocessing docs. The
	// object lives as long as the server.
	Shared bool

	// builtin makes the referent of a SyncManager type.
	builtin func(c *Call) (referent, error)
}

// Registry holds the types a server serves. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*Type
}

// NewRegistry returns an empty registry (Python's BaseManager, which has
// no types until registered).
func NewRegistry() *Registry {
	return &Registry{types: make(map[string]*Type)}
}

// SyncRegistry returns a new registry holding SyncManager's types: dict,
// list, Namespace, Value, Array, Lock, RLock, Semaphore,
// BoundedSemaphore, Condition, Event, Barrier, Queue, JoinableQueue and
// Iterator (Pool and AsyncResult, which run Python code, are not served).
// Register custom types on it to extend SyncManager, as Python's
// SyncManager.register does.
func SyncRegistry() *Registry {
	r := NewRegistry()
	for _, t := range syncTypes() {
		r.types[t.TypeID] = t
	}
	return r
}

// Register adds or replaces a type.
func (r *Registry) Register(t Type) error {
	if t.TypeID == "" {
		return fmt.Errorf("%w: empty TypeID", ErrConfig)
	}
	for m, tid := range t.MethodToTypeID {
		if m == "" || tid == "" {
			return fmt.Errorf("%w: MethodToTypeID of %q has an empty name", ErrConfig, t.TypeID)
		}
	}
	cp := t
	cp.Exposed = slices.Clone(t.Exposed)
	if t.Base != "" {
		if t.New != nil {
			return fmt.Errorf("%w: type %q sets both New and Base", ErrConfig, t.TypeID)
		}
		var base *Type
		for _, b := range syncTypes() {
			if b.TypeID == t.Base && b.builtin != nil {
				base = b
			}
		}
		if base == nil {
			return fmt.Errorf("%w: type %q: Base %q is not a SyncManager type", ErrConfig, t.TypeID, t.Base)
		}
		cp.builtin = base.builtin
		if cp.Exposed == nil {
			cp.Exposed = slices.Clone(base.Exposed)
		}
		if cp.Proxy == "" {
			cp.Proxy = base.Proxy
		}
		if cp.MethodToTypeID == nil {
			cp.MethodToTypeID = base.MethodToTypeID
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types[t.TypeID] = &cp
	return nil
}

// Lookup returns the type registered as typeid.
func (r *Registry) Lookup(typeid string) (*Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[typeid]
	return t, ok
}

// TypeIDs returns the registered typeids, sorted.
func (r *Registry) TypeIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for id := range r.types {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// exposedFor returns the exposed list create reports for an object of t:
// t.Exposed (or the object's public methods), then the MethodToTypeID
// names, in Python's order (duplicates kept).
func (t *Type) exposedFor(obj referent) ([]string, error) {
	exp := t.Exposed
	if exp == nil {
		if or, ok := obj.(*objectReferent); ok {
			if p, ok := or.obj.(interface{ PublicMethods() []string }); ok {
				exp = p.PublicMethods()
			}
		}
		if exp == nil {
			return nil, fmt.Errorf("TypeError: type %q has no exposed methods: set Type.Exposed or implement PublicMethods", t.TypeID)
		}
	}
	out := slices.Clone(exp)
	keys := make([]string, 0, len(t.MethodToTypeID))
	for m := range t.MethodToTypeID {
		keys = append(keys, m)
	}
	sort.Strings(keys)
	return append(out, keys...), nil
}

// objectReferent adapts a custom Object to the server.
type objectReferent struct {
	typeid string
	obj    Object
}

func (o *objectReferent) call(c *Call) (any, error) {
	v, err := o.obj.CallMethod(c)
	if err == ErrNoMethod {
		return nil, errNoAttr(o.typeid, c.Method)
	}
	return v, err
}

func (o *objectReferent) repr(id string) string {
	if r, ok := o.obj.(interface{ Repr() string }); ok {
		return r.Repr()
	}
	if s, ok := o.obj.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("<%s object at 0x%s>", o.typeid, id)
}

func (o *objectReferent) str(id string) string {
	if s, ok := o.obj.(fmt.Stringer); ok {
		return s.String()
	}
	return o.repr(id)
}

func (o *objectReferent) value() (any, error) {
	if v, ok := o.obj.(interface{ Value() (any, error) }); ok {
		return v.Value()
	}
	return nil, fmt.Errorf("TypeError: cannot pickle '%s' object", o.typeid)
}

func (o *objectReferent) scan(fn func(string)) {
	if v, ok := o.obj.(interface{ Value() (any, error) }); ok {
		if x, err := v.Value(); err == nil {
			scanValue(x, fn)
		}
	}
}

// Exposed method lists, as CPython's proxy types declare them (3.8-3.13),
// followed by the names Python 3.14 adds (extra names are harmless: a
// client calls only what its proxy class defines).
var (
	exposedDict = strings.Fields(`__contains__ __delitem__ __getitem__ __iter__ __len__ __setitem__
		clear copy get items keys pop popitem setdefault update values
		__ior__ __or__ __reversed__ __ror__ fromkeys`)
	exposedList = strings.Fields(`__add__ __contains__ __delitem__ __getitem__ __len__ __mul__
		__reversed__ __rmul__ __setitem__ append count extend index insert pop remove reverse sort
		__imul__ clear copy`)
	exposedNamespace = []string{"__getattribute__", "__setattr__", "__delattr__"}
	exposedValue     = []string{"get", "set"}
	exposedArray     = []string{"__len__", "__getitem__", "__setitem__"}
	exposedAcquirer  = []string{"acquire", "release", "locked"}
	exposedCondition = []string{"acquire", "release", "wait", "notify", "notify_all", "locked"}
	exposedEvent     = []string{"is_set", "set", "clear", "wait"}
	exposedBarrier   = []string{"__getattribute__", "wait", "abort", "reset"}
	exposedQueue     = strings.Fields(`empty full get get_nowait join put put_nowait qsize shutdown task_done`)
	exposedIterator  = []string{"__next__", "send", "throw", "close"}
)

// syncTypes returns SyncManager's registrations.
func syncTypes() []*Type {
	iter := map[string]string{"__iter__": "Iterator", "__reversed__": "Iterator"}
	return []*Type{
		{TypeID: "dict", Exposed: exposedDict, MethodToTypeID: iter, Proxy: "DictProxy", builtin: newDict},
		{TypeID: "list", Exposed: exposedList, Proxy: "ListProxy", builtin: newList},
		{TypeID: "Namespace", Exposed: exposedNamespace, Proxy: "NamespaceProxy", builtin: newNamespace},
		{TypeID: "Value", Exposed: exposedValue, Proxy: "ValueProxy", builtin: newValue},
		{TypeID: "Array", Exposed: exposedArray, Proxy: "ArrayProxy", builtin: newArray},
		{TypeID: "Lock", Exposed: exposedAcquirer, Proxy: "AcquirerProxy", builtin: newLock},
		{TypeID: "RLock", Exposed: exposedAcquirer, Proxy: "AcquirerProxy", builtin: newRLock},
		{TypeID: "Semaphore", Exposed: exposedAcquirer, Proxy: "AcquirerProxy", builtin: newSemaphoreRef(false)},
		{TypeID: "BoundedSemaphore", Exposed: exposedAcquirer, Proxy: "AcquirerProxy", builtin: newSemaphoreRef(true)},
		{TypeID: "Condition", Exposed: exposedCondition, Proxy: "ConditionProxy", builtin: newConditionRef},
		{TypeID: "Event", Exposed: exposedEvent, Proxy: "EventProxy", builtin: newEvent},
		{TypeID: "Barrier", Exposed: exposedBarrier, Proxy: "BarrierProxy", builtin: newBarrierRef},
		{TypeID: "Queue", Exposed: exposedQueue, builtin: newQueue},
		{TypeID: "JoinableQueue", Exposed: exposedQueue, builtin: newQueue},
		{TypeID: "Iterator", Exposed: exposedIterator, Proxy: "IteratorProxy", NoCreate: true},
	}
}

func newLock(c *Call) (referent, error) {
	if err := c.noArgs(); err != nil {
		return nil, err
	}
	return &lockObj{}, nil
}

func newRLock(c *Call) (referent, error) {
	if err := c.noArgs(); err != nil {
		return nil, err
	}
	return &rlockObj{}, nil
}

func newSemaphoreRef(bounded bool) func(c *Call) (referent, error) {
	return func(c *Call) (referent, error) {
		a, err := c.Params([]string{"value"}, int64(1))
		if err != nil {
			return nil, err
		}
		n, err := asIntArg(a[0])
		if err != nil {
			return nil, err
		}
		return newSemaphore(n, bounded)
	}
}

func newConditionRef(c *Call) (referent, error) {
	a, err := c.Params([]string{"lock"}, pickle.None)
	if err != nil {
		return nil, err
	}
	if isNone(a[0]) {
		return newCondition(nil), nil
	}
	if e, ok := c.resolve(a[0]); ok {
		if l, ok := e.obj.(condLock); ok {
			cv := newCondition(l)
			cv.lockID = e.id
			return cv, nil
		}
	}
	return nil, pyErrf(excTypeError, "Condition's lock must be None or a proxy for a Lock or RLock of this manager, not %s", typeName(a[0]))
}

func newEvent(c *Call) (referent, error) {
	if err := c.noArgs(); err != nil {
		return nil, err
	}
	return &eventObj{}, nil
}

func newBarrierRef(c *Call) (referent, error) {
	a, err := c.Params([]string{"parties", "action", "timeout"}, pickle.None, pickle.None)
	if err != nil {
		return nil, err
	}
	parties, err := asIntArg(a[0])
	if err != nil {
		return nil, err
	}
	if !isNone(a[1]) {
		return nil, pyErr(excTypeError, "Barrier(action=...) is not supported: the mproc manager server does not run Python callables")
	}
	t, err := asTimeout(a[2])
	if err != nil {
		return nil, err
	}
	return newBarrier(parties, t)
}

func newQueue(c *Call) (referent, error) {
	a, err := c.Params([]string{"maxsize"}, int64(0))
	if err != nil {
		return nil, err
	}
	n, err := asIntArg(a[0])
	if err != nil {
		return nil, err
	}
	return &queueObj{maxsize: n}, nil
}
