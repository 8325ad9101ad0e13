package build

import (
	"fmt"
	"strings"
	"unicode"
)

// lexer expands variables and removes quotes in Dockerfile words the way
// the Dockerfile reference describes ("Environment replacement"): $NAME and
// ${NAME}, ${NAME:-word}, ${NAME:+word} (and the forms without ':'),
// nothing inside single quotes, the escape character making the next
// character literal. It mirrors moby/buildkit frontend/dockerfile/shell
// (lex.go) in behaviour, not in code.
type lexer struct {
	escape rune
	lookup func(name string) (string, bool)
}

// word processes one word (split with splitRaw): quotes removed,
// variables expanded.
func (l lexer) word(s string) (string, error) {
	rs := []rune(s)
	var cur strings.Builder
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == l.escape:
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			continue
		case c == '\'':
			end := indexRune(rs, i+1, '\'')
			if end < 0 {
				return "", fmt.Errorf("unexpected end of statement while looking for matching single-quote in %q", s)
			}
			cur.WriteString(string(rs[i+1 : end]))
			i = end
			continue
		case c == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				switch {
				case rs[j] == l.escape && j+1 < len(rs) && strings.ContainsRune(`"$`+string(l.escape), rs[j+1]):
					j++
					cur.WriteRune(rs[j])
				case rs[j] == '$':
					n, v, err := l.expand(rs, j)
					if err != nil {
						return "", err
					}
					cur.WriteString(v)
					j = n - 1
				default:
					cur.WriteRune(rs[j])
				}
			}
			if j >= len(rs) {
				return "", fmt.Errorf("unexpected end of statement while looking for matching double-quote in %q", s)
			}
			i = j
			continue
		case c == '$':
			n, v, err := l.expand(rs, i)
			if err != nil {
				return "", err
			}
			cur.WriteString(v)
			i = n - 1
			continue
		}
		cur.WriteRune(c)
	}
	return cur.String(), nil
}

// expand reads the variable reference starting at rs[i] == '$' and returns
// the index just past it and its value. A '$' not followed by a name stays
// a literal '$'.
func (l lexer) expand(rs []rune, i int) (int, string, error) {
	if i+1 >= len(rs) {
		return i + 1, "$", nil
	}
	if rs[i+1] != '{' {
		j := i + 1
		for j < len(rs) && isNameRune(rs[j]) {
			j++
		}
		if j == i+1 {
			return i + 1, "$", nil
		}
		v, _ := l.get(string(rs[i+1 : j]))
		return j, v, nil
	}
	end := indexRune(rs, i+2, '}')
	if end < 0 {
		return 0, "", fmt.Errorf("missing '}' in %q", string(rs))
	}
	body := string(rs[i+2 : end])
	nameEnd := 0
	for nameEnd < len(body) && isNameRune(rune(body[nameEnd])) {
		nameEnd++
	}
	name, op := body[:nameEnd], body[nameEnd:]
	if name == "" {
		return 0, "", fmt.Errorf("bad substitution %q", "${"+body+"}")
	}
	val, set := l.get(name)
	if op == "" {
		return end + 1, val, nil
	}
	colon := strings.HasPrefix(op, ":")
	op = strings.TrimPrefix(op, ":")
	if op == "" {
		return 0, "", fmt.Errorf("bad substitution %q", "${"+body+"}")
	}
	present := set && (!colon || val != "")
	arg, err := l.word(op[1:])
	if err != nil {
		return 0, "", err
	}
	switch op[0] {
	case '-':
		if present {
			return end + 1, val, nil
		}
		return end + 1, arg, nil
	case '+':
		if present {
			return end + 1, arg, nil
		}
		return end + 1, "", nil
	}
	return 0, "", fmt.Errorf("unsupported modifier (%c) in substitution %q", op[0], "${"+body+"}")
}

func (l lexer) get(name string) (string, bool) {
	if l.lookup == nil {
		return "", false
	}
	return l.lookup(name)
}

func isNameRune(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func indexRune(rs []rune, from int, r rune) int {
	for j := from; j < len(rs); j++ {
		if rs[j] == r {
			return j
		}
	}
	return -1
}

// splitRaw splits s on unquoted whitespace but keeps quotes and escapes, so
// each word can be processed later with the environment of its step (ENV
// and LABEL key=value lists).
func splitRaw(s string, escape rune) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == 0 && unicode.IsSpace(c):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case c == escape && quote != '\'' && i+1 < len(rs):
			cur.WriteRune(c)
			i++
			c = rs[i]
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case c == quote:
			quote = 0
		}
		inWord = true
		cur.WriteRune(c)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
