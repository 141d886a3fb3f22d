//go:build linux

package pipe

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// The authkey handshake of multiprocessing.connection (PROTOCOL.md §2).
//
// One direction is a challenger (DeliverChallenge) and an answerer
// (AnswerChallenge). Listener.Accept delivers then answers; Dial answers then
// delivers, so both sides prove they hold the key. This code follows CPython
// 3.12's connection.py, which speaks to both generations of peers:
//
//   - As challenger it sends "{sha256}" + 40 random bytes (or 20 random bytes
//     with Config.LegacyChallenge) and accepts a raw 16-byte HMAC-MD5 (what
//     3.11-and-earlier answerers send) or a "{name}"-prefixed HMAC of an
//     allowed digest, computed over the whole challenge body.
//   - As answerer it answers a 20- (or 16-) byte body with raw HMAC-MD5 and a
//     "{name}"-prefixed body with "{name}" + HMAC-name over the whole body.
//
// Every handshake receive is bounded to 256 bytes, digests are compared in
// constant time, and a challenger that rejects a response sends #FAILURE#
// before returning ErrAuthentication.

// hmacNew returns the HMAC constructor for an allowed digest name.
func hmacNew(name string) (func() hash.Hash, bool) {
	switch name {
	case digestMD5:
		return md5.New, true
	case digestSHA256:
		return sha256.New, true
	case digestSHA384:
		return sha512.New384, true
	case digestSHA3256:
		return func() hash.Hash { return sha3.New256() }, true
	case digestSHA3384:
		return func() hash.Hash { return sha3.New384() }, true
	}
	return nil, false
}

func mac(name string, key, msg []byte) []byte {
	h, _ := hmacNew(name)
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// errMalformed is the cause of a handshake message that is neither legacy
// nor validly prefixed.
var errMalformed = errors.New("unsupported message length, missing digest prefix, or unsupported digest")

// parseDigest is CPython's _get_digest_name_and_payload: a 16- or 20-byte
// message is legacy (name ""); otherwise it must start with "{name}" where
// name is an allowed digest, the '}' being looked for in message[1:10] only.
func parseDigest(message []byte) (name string, payload []byte, err error) {
	if len(message) == legacyNonceLen || len(message) == md5DigestLen {
		return "", message, nil
	}
	if len(message) > 0 && message[0] == '{' {
		end := min(len(message), maxDigestNameLen+2)
		if i := bytes.IndexByte(message[1:end], '}'); i >= 0 {
			curly := i + 1
			if _, ok := hmacNew(string(message[1:curly])); ok {
				return string(message[1:curly]), message[curly+1:], nil
			}
		}
	}
	return "", nil, errMalformed
}

// createResponse is CPython's _create_response: the answer to a challenge
// body.
func createResponse(key, body []byte, refuseMD5 bool) ([]byte, error) {
	name, _, err := parseDigest(body)
	if err != nil {
		return nil, err
	}
	if name == "" {
		if refuseMD5 {
			return nil, errors.New("legacy HMAC-MD5 challenge refused (Config.RefuseMD5)")
		}
		return mac(digestMD5, key, body), nil
	}
	resp := make([]byte, 0, len(name)+2+sha512.Size384)
	resp = append(resp, '{')
	resp = append(resp, name...)
	resp = append(resp, '}')
	return append(resp, mac(name, key, body)...), nil
}

// verifyResponse is CPython's _verify_challenge: does response prove the key
// for the challenge body msg?
func verifyResponse(key, msg, response []byte, refuseMD5 bool) error {
	name, got, err := parseDigest(response)
	if err != nil {
		return authError("malformed response", err)
	}
	if name == "" {
		name = digestMD5
	}
	if refuseMD5 && name == digestMD5 {
		return authError("HMAC-MD5 response refused (Config.RefuseMD5)", nil)
	}
	want := mac(name, key, msg)
	if len(want) != len(got) {
		return authError(fmt.Sprintf("expected %s digest of %d bytes, got %d", name, len(want), len(got)), nil)
	}
	if !hmac.Equal(want, got) {
		return authError("digest received was wrong", nil)
	}
	return nil
}

// DeliverChallenge runs the challenger's half of one handshake direction on
// c (Python's deliver_challenge): it sends a random challenge, checks the
// peer's answer against authkey and sends #WELCOME# or #FAILURE#. A wrong,
// malformed or oversize answer fails with ErrAuthentication, after
// #FAILURE# was sent. A manager server, whose Listener has no authkey, calls
// DeliverChallenge then AnswerChallenge on each connection itself.
func (c *Conn) DeliverChallenge(authkey []byte) error {
	var body []byte
	if c.cfg.LegacyChallenge {
		body = make([]byte, legacyNonceLen)
		rand.Read(body)
	} else {
		body = make([]byte, 2+len(defaultDigest)+modernNonceLen)
		n := copy(body, "{"+defaultDigest+"}")
		rand.Read(body[n:])
	}
	if err := c.SendBytes(append([]byte(challengePrefix), body...)); err != nil {
		return handshakeError(err)
	}
	resp, err := c.RecvBytes(handshakeMaxMessage)
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			c.SendBytes([]byte(failureMessage))
			return authError("response", err)
		}
		return handshakeError(err)
	}
	if err := verifyResponse(authkey, body, resp, c.cfg.RefuseMD5); err != nil {
		c.SendBytes([]byte(failureMessage))
		return err
	}
	if err := c.SendBytes([]byte(welcomeMessage)); err != nil {
		return handshakeError(err)
	}
	return nil
}

// AnswerChallenge runs the answerer's half of one handshake direction on c
// (Python's answer_challenge): it receives a challenge, answers it with
// authkey and expects #WELCOME#. A rejected answer (#FAILURE# or anything
// else) and a malformed, short or oversize challenge fail with
// ErrAuthentication; a bad challenge is not answered.
func (c *Conn) AnswerChallenge(authkey []byte) error {
	msg, err := c.RecvBytes(handshakeMaxMessage)
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			return authError("challenge", err)
		}
		return handshakeError(err)
	}
	if !bytes.HasPrefix(msg, []byte(challengePrefix)) {
		return authError(fmt.Sprintf("protocol error, expected challenge: %q", truncate(msg)), nil)
	}
	body := msg[len(challengePrefix):]
	if len(body) < minChallengeLen {
		return authError(fmt.Sprintf("challenge too short: %d bytes", len(body)), nil)
	}
	resp, err := createResponse(authkey, body, c.cfg.RefuseMD5)
	if err != nil {
		return authError("challenge", err)
	}
	if err := c.SendBytes(resp); err != nil {
		return handshakeError(err)
	}
	reply, err := c.RecvBytes(handshakeMaxMessage)
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			return authError("reply", err)
		}
		return handshakeError(err)
	}
	if string(reply) != welcomeMessage {
		return authError("digest sent was rejected", nil)
	}
	return nil
}

// handshakeError wraps a transport error (EOF, deadline, closed) met during
// the handshake. It does not match ErrAuthentication: nothing was rejected.
func handshakeError(err error) error {
	return fmt.Errorf("pipe: handshake: %w", err)
}

// truncate shortens a peer's message for an error text.
func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
