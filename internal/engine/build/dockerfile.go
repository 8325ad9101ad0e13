package build

import (
	"fmt"
	"io"
	"strings"
)

// Dockerfile is a parsed Dockerfile: the ARGs before the first FROM and the
// stages in order.
type Dockerfile struct {
	MetaArgs []Instruction // ARG instructions before the first FROM
	Stages   []Stage
	Escape   rune
}

// Stage is one FROM and the instructions up to the next FROM.
type Stage struct {
	From     Instruction
	Name     string // from "AS name", lower case; "" if unnamed
	Commands []Instruction
}

// Instruction is one checked instruction. Words stay unexpanded: variables
// are replaced at build time with the ENV and ARG values of that step.
type Instruction struct {
	Node
	// Args are the words after the instruction. For the exec form (a JSON
	// array) they are final; for the shell form of RUN, CMD and ENTRYPOINT
	// Args is one element, the command line for the shell.
	Args  []string
	Exec  bool              // JSON (exec) form
	Flags map[string]string // parsed --name=value flags
}

// Steps is how many "Step N/M" lines the build prints: every instruction,
// FROMs and the ARGs before the first FROM included (legacy builder rule).
func (d *Dockerfile) Steps() int {
	n := len(d.MetaArgs)
	for _, s := range d.Stages {
		n += 1 + len(s.Commands)
	}
	return n
}

// allowed flags per instruction; anything else is a parse error.
var allowedFlags = map[string][]string{
	"from":        {"platform"},
	"copy":        {"from", "chown", "chmod", "link"},
	"add":         {"chown", "chmod", "link", "checksum"},
	"run":         {"network"},
	"healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}

// Parse reads and checks a whole Dockerfile, so that a typo on the last line
// fails the build before the first step runs.
func Parse(r io.Reader) (*Dockerfile, error) {
	nodes, escape, err := parseNodes(r)
	if err != nil {
		return nil, err
	}
	d := &Dockerfile{Escape: escape}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("the Dockerfile cannot be empty")
	}
	for _, n := range nodes {
		in, err := parseInstruction(n, escape)
		if err != nil {
			return nil, err
		}
		switch {
		case in.Cmd == "from":
			st := Stage{From: in}
			if len(in.Args) == 3 {
				st.Name = strings.ToLower(in.Args[2])
			}
			d.Stages = append(d.Stages, st)
		case len(d.Stages) == 0 && in.Cmd == "arg":
			d.MetaArgs = append(d.MetaArgs, in)
		case len(d.Stages) == 0:
			return nil, &ParseError{n.Line, fmt.Sprintf("no build stage in current context: %s must come after FROM", strings.ToUpper(n.Cmd))}
		default:
			last := &d.Stages[len(d.Stages)-1]
			last.Commands = append(last.Commands, in)
		}
	}
	seen := map[string]bool{}
	for _, s := range d.Stages {
		if s.Name == "" {
			continue
		}
		if seen[s.Name] {
			return nil, &ParseError{s.From.Line, fmt.Sprintf("duplicate stage name %q", s.Name)}
		}
		seen[s.Name] = true
	}
	return d, nil
}

func parseInstruction(n Node, escape rune) (Instruction, error) {
	in := Instruction{Node: n, Flags: map[string]string{}}
	perr := func(format string, a ...any) error {
		return &ParseError{n.Line, fmt.Sprintf(format, a...)}
	}
	for _, f := range n.Flags {
		name, val, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !contains(allowedFlags[n.Cmd], name) {
			return in, perr("unknown flag: --%s", name)
		}
		in.Flags[name] = val
	}
	switch n.Cmd {
	case "onbuild":
		return in, perr("ONBUILD is not supported by berth's builder")
	case "healthcheck":
		// HEALTHCHECK NONE | HEALTHCHECK [flags] CMD command (shell or exec form).
		word, rest, _ := strings.Cut(strings.TrimSpace(n.Rest), " ")
		switch strings.ToUpper(word) {
		case "NONE":
			if strings.TrimSpace(rest) != "" || len(in.Flags) > 0 {
				return in, perr("HEALTHCHECK NONE takes no other arguments")
			}
			in.Args = []string{"NONE"}
		case "CMD":
			rest = strings.TrimSpace(rest)
			if rest == "" {
				return in, perr("Missing command after HEALTHCHECK CMD")
			}
			if args, ok := jsonArgs(rest); ok {
				in.Args, in.Exec = append([]string{"CMD"}, args...), true
			} else {
				in.Args = []string{"CMD-SHELL", rest}
			}
		default:
			return in, perr("Unknown type %q in HEALTHCHECK (try CMD)", word)
		}
		return in, nil
	case "run", "cmd", "entrypoint":
		if args, ok := jsonArgs(n.Rest); ok {
			in.Args, in.Exec = args, true
		} else {
			in.Args = []string{n.Rest}
		}
		if n.Cmd == "run" && strings.TrimSpace(n.Rest) == "" {
			return in, perr("RUN requires at least one argument")
		}
		return in, nil
	case "shell":
		args, ok := jsonArgs(n.Rest)
		if !ok || len(args) == 0 {
			return in, perr("SHELL requires the arguments to be in JSON form")
		}
		in.Args, in.Exec = args, true
		return in, nil
	case "copy", "add", "volume":
		if args, ok := jsonArgs(n.Rest); ok {
			in.Args, in.Exec = args, true
		} else {
			in.Args = splitRaw(n.Rest, escape)
		}
	default:
		in.Args = splitRaw(n.Rest, escape)
	}
	switch n.Cmd {
	case "from":
		if len(in.Args) != 1 && !(len(in.Args) == 3 && strings.EqualFold(in.Args[1], "as")) {
			return in, perr("FROM requires either one or three arguments")
		}
	case "copy", "add":
		if len(in.Args) < 2 {
			return in, perr("%s requires at least two arguments, but only one was provided. Destination could not be determined.", strings.ToUpper(n.Cmd))
		}
	case "env", "label":
		if len(in.Args) == 0 {
			return in, perr("%s requires at least one argument", strings.ToUpper(n.Cmd))
		}
		if n.Cmd == "env" && !strings.Contains(in.Args[0], "=") {
			// Legacy "ENV name value with spaces" form: one pair.
			name, val, _ := strings.Cut(n.Rest, " ")
			in.Args = []string{name + "=" + quoteLiteral(strings.TrimSpace(val))}
		}
		for _, a := range in.Args {
			if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
				return in, perr("%s names can not be blank or missing '=': %q", strings.ToUpper(n.Cmd), a)
			}
		}
	case "arg":
		if len(in.Args) != 1 {
			return in, perr("ARG requires exactly one argument")
		}
	case "workdir", "user", "stopsignal", "maintainer":
		if len(in.Args) == 0 {
			return in, perr("%s requires exactly one argument", strings.ToUpper(n.Cmd))
		}
		if n.Cmd != "maintainer" && len(in.Args) != 1 {
			return in, perr("%s requires exactly one argument", strings.ToUpper(n.Cmd))
		}
	case "expose", "volume":
		if len(in.Args) == 0 {
			return in, perr("%s requires at least one argument", strings.ToUpper(n.Cmd))
		}
	}
	return in, nil
}

// quoteLiteral wraps s in double quotes that the lexer removes again, so the
// legacy ENV form keeps its spaces and still gets $VAR expansion.
func quoteLiteral(s string) string {
	if strings.ContainsAny(s, `"'`) {
		return s
	}
	return `"` + s + `"`
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
