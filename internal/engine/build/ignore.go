package build

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// ignore is a .dockerignore: patterns in order, later ones win, "!" makes
// an exception, "**" matches any number of directories, and a pattern that
// matches a directory excludes everything under it (Dockerfile reference,
// ".dockerignore file").
type ignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

func loadIgnore(p string) (*ignore, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return &ignore{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return newIgnore(lines)
}

func newIgnore(lines []string) (*ignore, error) {
	ig := &ignore{}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = strings.TrimSpace(strings.TrimPrefix(l, "!"))
		l = strings.Trim(path.Clean("/"+filepath.ToSlash(l)), "/")
		if l == "" || l == "." {
			continue
		}
		re, err := globRegexp(l)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: pattern %q: %w", l, err)
		}
		ig.rules = append(ig.rules, ignoreRule{re: re, negate: neg})
	}
	return ig, nil
}

// globRegexp turns a pattern into a regexp that also matches everything
// below a matching directory.
func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				b.WriteString("(.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				return nil, errors.New("unterminated [")
			}
			cls := p[i+1 : i+j]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + cls + "]")
			i += j
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("(/.*)?$")
	return regexp.Compile(b.String())
}

// excluded reports whether rel (slash-separated, relative to the context
// root) is left out of the context.
func (ig *ignore) excluded(rel string) bool {
	if ig == nil {
		return false
	}
	out := false
	for _, r := range ig.rules {
		if r.re.MatchString(rel) {
			out = !r.negate
		}
	}
	return out
}
