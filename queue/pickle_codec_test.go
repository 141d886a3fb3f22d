package queue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

type task struct {
	Name  string
	Args  []int
	Attrs map[string]string
}

func TestPickleCodecRoundTrip(t *testing.T) {
	q, err := queue.New[task](segName(t), nil) // not raw: pickled by default
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	in := []task{
		{Name: "one", Args: []int{1, 2, 3}, Attrs: map[string]string{"k": "v"}},
		{Name: "empty"},
		{Name: string(make([]byte, 300<<10)), Args: []int{7}}, // out of line
	}
	for _, v := range in {
		require.NoError(t, q.Put(ctx, v))
	}
	for _, want := range in {
		got, err := q.Get(ctx)
		require.NoError(t, err)
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.Args, got.Args)
		assert.Equal(t, len(want.Attrs), len(got.Attrs))
	}
	var c queue.PickleCodec[task]
	_, err = c.Decode([]byte("not a pickle"))
	assert.ErrorIs(t, err, queue.ErrEncode)
}

func init() {
	process.Register("q-pickle", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		q, err := queue.Attach[task](h, nil)
		if err != nil {
			return err
		}
		v, err := q.Get(context.Background())
		if err != nil {
			return err
		}
		v.Name += "!"
		v.Args = append(v.Args, len(v.Args))
		return q.Put(context.Background(), v)
	})
}

func TestPickleCodecCrossProcess(t *testing.T) {
	q, err := queue.New[task](segName(t), nil)
	require.NoError(t, err)
	defer q.Detach()
	require.NoError(t, q.Put(t.Context(), task{Name: "ping", Args: []int{4, 5}}))
	p := startProc(t, "q-pickle", q.Handle())
	joinOK(t, p)
	got, err := q.Get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "ping!", got.Name)
	assert.Equal(t, []int{4, 5, 2}, got.Args)
}
