package build

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSeedDockerfile(t *testing.T) {
	d, err := Parse(strings.NewReader("FROM node:slim\nEXPOSE 8000\nCOPY hello.js .\nCMD node hello.js\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Steps() != 4 || len(d.Stages) != 1 {
		t.Fatalf("Steps() = %d, stages = %d; want 4, 1", d.Steps(), len(d.Stages))
	}
	cmds := d.Stages[0].Commands
	if got := cmds[2].Original; got != "CMD node hello.js" {
		t.Errorf("Original = %q", got)
	}
	if cmds[2].Exec || !reflect.DeepEqual(cmds[2].Args, []string{"node hello.js"}) {
		t.Errorf("CMD = %v exec=%v, want shell form", cmds[2].Args, cmds[2].Exec)
	}
	if !reflect.DeepEqual(cmds[1].Args, []string{"hello.js", "."}) {
		t.Errorf("COPY args = %v", cmds[1].Args)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, d *Dockerfile)
	}{
		{
			name:    "unknown instruction",
			in:      "FROM scratch\nFOO bar\n",
			wantErr: "dockerfile parse error on line 2: unknown instruction: FOO",
		},
		{
			name:    "instruction before FROM",
			in:      "RUN true\nFROM scratch\n",
			wantErr: "line 1: no build stage",
		},
		{
			name:    "empty",
			in:      "# just a comment\n\n",
			wantErr: "cannot be empty",
		},
		{
			name:    "COPY without destination",
			in:      "FROM scratch\nCOPY onlyone\n",
			wantErr: "COPY requires at least two arguments",
		},
		{
			name:    "unknown flag",
			in:      "FROM scratch\nCOPY --bogus=1 a b\n",
			wantErr: "unknown flag: --bogus",
		},
		{
			name:    "duplicate stage names",
			in:      "FROM scratch AS a\nFROM scratch as A\n",
			wantErr: "duplicate stage name",
		},
		{
			name: "continuations, comments inside, exec forms, multi-stage, meta args",
			in: "# escape=\\\nARG BASE=busybox\nFROM $BASE AS build\nRUN echo a \\\n# a comment\n    && echo b\n" +
				"ENTRYPOINT [\"/bin/sh\", \"-c\"]\nFROM scratch\nCOPY --from=build --chown=1:1 /bin/sh /sh\n",
			check: func(t *testing.T, d *Dockerfile) {
				if len(d.MetaArgs) != 1 || len(d.Stages) != 2 || d.Steps() != 6 {
					t.Fatalf("meta=%d stages=%d steps=%d, want 1, 2, 6", len(d.MetaArgs), len(d.Stages), d.Steps())
				}
				if d.Stages[0].Name != "build" {
					t.Errorf("stage name = %q", d.Stages[0].Name)
				}
				run := d.Stages[0].Commands[0]
				if run.Args[0] != "echo a     && echo b" || run.Line != 4 {
					t.Errorf("RUN = %q at line %d", run.Args[0], run.Line)
				}
				ep := d.Stages[0].Commands[1]
				if !ep.Exec || !reflect.DeepEqual(ep.Args, []string{"/bin/sh", "-c"}) {
					t.Errorf("ENTRYPOINT = %v exec=%v", ep.Args, ep.Exec)
				}
				cp := d.Stages[1].Commands[0]
				if cp.Flags["from"] != "build" || cp.Flags["chown"] != "1:1" {
					t.Errorf("COPY flags = %v", cp.Flags)
				}
			},
		},
		{
			name: "backtick escape directive",
			in:   "# escape=`\nFROM scratch\nENV A=1 `\n    B=2\n",
			check: func(t *testing.T, d *Dockerfile) {
				if got := d.Stages[0].Commands[0].Args; !reflect.DeepEqual(got, []string{"A=1", "B=2"}) {
					t.Errorf("ENV args = %q", got)
				}
			},
		},
		{
			name: "healthcheck forms",
			in:   "FROM scratch\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f localhost\nHEALTHCHECK CMD [\"true\"]\nHEALTHCHECK NONE\n",
			check: func(t *testing.T, d *Dockerfile) {
				c := d.Stages[0].Commands
				if !reflect.DeepEqual(c[0].Args, []string{"CMD-SHELL", "curl -f localhost"}) || c[0].Flags["interval"] != "5s" {
					t.Errorf("shell form = %q %v", c[0].Args, c[0].Flags)
				}
				if !reflect.DeepEqual(c[1].Args, []string{"CMD", "true"}) || !reflect.DeepEqual(c[2].Args, []string{"NONE"}) {
					t.Errorf("exec form / NONE = %q / %q", c[1].Args, c[2].Args)
				}
			},
		},
		{
			name:    "healthcheck without CMD",
			in:      "FROM scratch\nHEALTHCHECK curl localhost\n",
			wantErr: "Unknown type",
		},
		{
			name:    "onbuild refused",
			in:      "FROM scratch\nONBUILD RUN true\n",
			wantErr: "ONBUILD is not supported",
		},
		{
			name: "legacy ENV form keeps spaces",
			in:   "FROM scratch\nENV GREETING hello  world\n",
			check: func(t *testing.T, d *Dockerfile) {
				if got := d.Stages[0].Commands[0].Args; !reflect.DeepEqual(got, []string{`GREETING="hello  world"`}) {
					t.Errorf("ENV args = %q", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse() error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			tc.check(t, d)
		})
	}
}

func TestLexer(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": "", "SP": "a b"}
	l := lexer{escape: '\\', lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	tests := []struct {
		in   string
		want string
	}{
		{`$A`, "x"},
		{`${A}y`, "xy"},
		{`'$A'`, "$A"},
		{`"$A b"`, "x b"},
		{`\$A`, "$A"},
		{`${UNSET:-def}`, "def"},
		{`${EMPTY:-def}`, "def"},
		{`${EMPTY-def}`, ""},
		{`${A:+alt}`, "alt"},
		{`${UNSET:+alt}`, ""},
		{`a$`, "a$"},
		{`"q\"uote"`, `q"uote`},
	}
	for _, tc := range tests {
		got, err := l.word(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("word(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got := splitRaw(`a "b c" d\ e 'f g'`, '\\'); !reflect.DeepEqual(got, []string{"a", `"b c"`, `d\ e`, `'f g'`}) {
		t.Errorf("splitRaw = %q", got)
	}
	if _, err := l.word(`"open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}
