package build

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Node is one logical Dockerfile line: continuations joined, comments gone.
type Node struct {
	Cmd      string   // instruction, lower case
	Flags    []string // leading --name=value words, in order
	Rest     string   // what follows the instruction and its flags
	Original string   // the line as written (continuations joined), for "Step N/M : ..."
	Line     int      // 1-based line where the instruction starts
}

// ParseError is a Dockerfile syntax error, reported with its line as the
// docker CLI prints it.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("dockerfile parse error on line %d: %s", e.Line, e.Msg)
}

var directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)

// instructions this builder knows; the value says whether it takes --flags.
var instructions = map[string]bool{
	"from": true, "run": true, "copy": true, "add": true,
	"env": false, "arg": false, "workdir": false, "expose": false, "cmd": false,
	"entrypoint": false, "user": false, "label": false, "volume": false,
	"shell": false, "stopsignal": false, "maintainer": false,
	"healthcheck": true, "onbuild": false,
}

// parseNodes reads a Dockerfile into logical lines. It honours the parser
// directives at the top of the file (only escape changes parsing here;
// syntax is ignored, since this builder is the only frontend) and rejects
// unknown instructions before anything is built.
func parseNodes(r io.Reader) ([]Node, rune, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	escape := '\\'
	lineNo := 0
	directives := true
	var nodes []Node
	var cur strings.Builder
	start := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		trimmed := strings.TrimSpace(line)
		if directives {
			if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") {
					if m[2] != "\\" && m[2] != "`" {
						return nil, 0, &ParseError{lineNo, fmt.Sprintf("invalid escape token '%s' does not match ` or \\", m[2])}
					}
					escape = rune(m[2][0])
				}
				continue
			}
			directives = false
		}
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			// Empty and comment lines inside a continuation are dropped, as
			// in the Dockerfile reference's examples.
			continue
		}
		if cur.Len() == 0 {
			start = lineNo
		}
		body := strings.TrimRightFunc(line, isSpace)
		if strings.HasSuffix(body, string(escape)) && !strings.HasSuffix(body, string(escape)+string(escape)) {
			cur.WriteString(strings.TrimSuffix(body, string(escape)))
			continue
		}
		cur.WriteString(body)
		n, err := splitNode(strings.TrimSpace(cur.String()), start)
		if err != nil {
			return nil, 0, err
		}
		nodes = append(nodes, n)
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read dockerfile: %w", err)
	}
	if cur.Len() > 0 {
		n, err := splitNode(strings.TrimSpace(cur.String()), start)
		if err != nil {
			return nil, 0, err
		}
		nodes = append(nodes, n)
	}
	return nodes, escape, nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' }

func splitNode(line string, lineNo int) (Node, error) {
	word, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexAny(word, "\t"); i >= 0 {
		word, rest = line[:i], line[i+1:]
	}
	cmd := strings.ToLower(word)
	takesFlags, ok := instructions[cmd]
	if !ok {
		return Node{}, &ParseError{lineNo, "unknown instruction: " + strings.ToUpper(word)}
	}
	n := Node{Cmd: cmd, Original: line, Line: lineNo}
	rest = strings.TrimSpace(rest)
	for takesFlags && strings.HasPrefix(rest, "--") {
		f, r, _ := strings.Cut(rest, " ")
		n.Flags = append(n.Flags, f)
		rest = strings.TrimSpace(r)
	}
	n.Rest = rest
	return n, nil
}

// jsonArgs returns the exec form of s (a JSON array of strings), or ok=false
// for the shell form.
func jsonArgs(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var args []string
	if err := json.Unmarshal([]byte(s), &args); err != nil {
		return nil, false
	}
	return args, true
}
