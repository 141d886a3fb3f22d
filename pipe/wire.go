//go:build linux

package pipe

// Wire constants of Python's multiprocessing.connection, all in one place.
// PROTOCOL.md (next to this file) describes the format they belong to; the
// CPython names are given where there is one.

// Framing (Connection._send_bytes / _recv_bytes on POSIX sockets and pipes).
//
// A frame is a header followed by the payload:
//
//	n <= 0x7fffffff:  int32_be(n)                            payload[n]
//	n >  0x7fffffff:  int32_be(-1)  uint64_be(n)             payload[n]
//
// The first four bytes are read as a signed big-endian integer. -1 means a
// uint64 length follows ("long form", CPython 3.8 and later). Any other
// negative value is invalid (CPython does not check; we reject it).
const (
	// shortHeaderLen is the size of the int32 length prefix.
	shortHeaderLen = 4
	// longHeaderLen is the size of the long-form prefix: int32 -1, uint64 n.
	longHeaderLen = 12
	// maxShortLength is the largest payload sent with the short form; CPython
	// switches to the long form above it.
	maxShortLength = 0x7fffffff
	// longFormMarker is the int32 that announces a uint64 length.
	longFormMarker = -1
	// oneWriteLimit is CPython's limit for sending header and payload in
	// one write call (bpo-20540, against Nagle delays). This package always
	// sends a frame with one writev, whatever its size; the constant is kept
	// for reference in PROTOCOL.md.
	oneWriteLimit = 16384
)

// Authentication handshake (deliver_challenge / answer_challenge).
const (
	// handshakeMaxMessage bounds every message received during the
	// handshake (recv_bytes(256) in CPython).
	handshakeMaxMessage = 256

	// challengePrefix starts the challenger's message; the challenge body
	// follows it. CPython: _CHALLENGE (CHALLENGE before 3.12).
	challengePrefix = "#CHALLENGE#"
	// welcomeMessage tells the answerer its response was accepted.
	welcomeMessage = "#WELCOME#"
	// failureMessage tells the answerer its response was rejected.
	failureMessage = "#FAILURE#"

	// modernNonceLen is the number of random bytes a 3.12+ challenger sends
	// after its "{digest}" prefix (MESSAGE_LENGTH = 40).
	modernNonceLen = 40
	// legacyNonceLen is the challenge body of a 3.11-and-earlier
	// challenger: 20 random bytes, no prefix (MESSAGE_LENGTH = 20 then;
	// _MD5ONLY_MESSAGE_LENGTH in 3.12).
	legacyNonceLen = 20
	// md5DigestLen is the size of a raw (unprefixed) HMAC-MD5 response
	// (_MD5_DIGEST_LEN).
	md5DigestLen = 16
	// minChallengeLen is the shortest challenge body a 3.12+ answerer
	// accepts ("challenge too short").
	minChallengeLen = legacyNonceLen
	// maxDigestNameLen is the longest allowed digest name ("sha3_256",
	// "sha3_384"); the closing '}' is searched for only within
	// message[1:maxDigestNameLen+2] (_MAX_DIGEST_LEN).
	maxDigestNameLen = 8
	// defaultDigest is the digest a modern challenger names.
	defaultDigest = "sha256"
)

// Digest names allowed in a "{name}" prefix (_ALLOWED_DIGESTS). The HMAC
// constructors are in auth.go.
const (
	digestMD5     = "md5"
	digestSHA256  = "sha256"
	digestSHA384  = "sha384"
	digestSHA3256 = "sha3_256"
	digestSHA3384 = "sha3_384"
)
