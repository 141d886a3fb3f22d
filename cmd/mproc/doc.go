//go:build linux

// Command mproc shows and cleans what mproc keeps in shared memory: the
// ipcs and ipcrm of mproc, with a debugger's view of each object's state.
//
// Usage:
//
//	mproc ls [--stale] [--json] [PATTERN...]
//	mproc inspect [--json] NAME|HANDLE
//	mproc rm [--force] NAME...
//	mproc clean [--dry-run] [PATTERN...]
//	mproc manager serve --address HOST:PORT|PATH|@NAME --authkey-file FILE [--allow-remote]
//		[--serializer pickle|xmlrpclib] [--shared TYPEID=TYPE ...]
//	mproc help [COMMAND]
//
// ls lists every segment under /dev/shm/mproc.*: its kind, size, creator
// (alive or dead), the live processes that map it and when it was made.
// inspect decodes one object's live state from its layout (a lock's owner
// and waiters, a queue's length, an arena's objects) without changing a
// byte of it. rm removes segments by name (refusing ones still in use
// unless --force); clean removes only stale segments: their creator is
// dead and no live process maps them. manager serve runs a manager server
// that Python's multiprocessing.managers clients (SyncManager.connect)
// use, in the foreground until SIGINT, SIGTERM or a client's shutdown
// call; "mproc help manager" describes it.
//
// A NAME is a segment name as ls prints it (a /dev/shm/mproc.NAME path is
// accepted too); a HANDLE is an object's text handle, SEGMENT@OFFSET/KIND/vN.
// PATTERNs are shell globs over names ("jobs-*"); without any, every
// segment is considered.
//
// Exit status: 0 success; 1 an error (no such segment, not an mproc
// segment, a newer layout version, permission denied, a segment rm refused
// or failed to remove); 2 a usage error (unknown command or flag, missing
// or extra arguments).
package main
