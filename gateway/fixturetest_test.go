package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyMappings copies the shipped mappings and their fixtures into a temp
// folder with a config naming them, and returns the config's path.
func copyMappings(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("../mappings", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../mappings", p)
		dst := filepath.Join(dir, "maps", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte("mappings_dir: maps\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTestCommand(t *testing.T) {
	tests := []struct {
		name   string
		args   func(t *testing.T) []string
		code   int
		stdout []string // each must appear
		not    []string // none may appear
		stderr string
	}{
		{
			name:   "shipped mappings pass",
			args:   func(*testing.T) []string { return []string{"-config", "../gateway.yaml"} },
			stdout: []string{"PASS website/ledsak_seed\n", "PASS save_lead/seed\n", "PASS leadsie/seed_success\n", "ok: 31 passed\n"},
			not:    []string{"FAIL"},
		},
		{
			name:   "a source filter runs only that source",
			args:   func(*testing.T) []string { return []string{"-config", "../gateway.yaml", "save_lead"} },
			stdout: []string{"PASS save_lead/seed\n", "ok: 10 passed\n"},
			not:    []string{"website/", "leadsie/"},
		},
		{
			name: "a broken golden fails with a diff",
			args: func(t *testing.T) []string {
				cfg := copyMappings(t)
				golden := filepath.Join(filepath.Dir(cfg), "maps", "testdata", "save_lead", "full.golden.json")
				b, _ := os.ReadFile(golden)
				if !bytes.Contains(b, []byte(`"first_name": "John"`)) {
					t.Fatalf("full golden no longer holds John: pick another line to break")
				}
				os.WriteFile(golden, bytes.ReplaceAll(b, []byte(`"first_name": "John"`), []byte(`"first_name": "Jon"`)), 0o644)
				return []string{"-config", cfg, "save_lead", "leadsie"}
			},
			code: 1,
			stdout: []string{
				"FAIL save_lead/full: ", "full.golden.json differs (-golden +mapping):\n",
				`-    "first_name": "Jon",`, `+    "first_name": "John",`,
				"PASS save_lead/seed\n", "PASS leadsie/seed_success\n", "FAIL: 18 passed, 1 failed\n",
			},
		},
		{
			name: "a missing golden fails and prints what the mapping gives",
			args: func(t *testing.T) []string {
				cfg := copyMappings(t)
				os.Remove(filepath.Join(filepath.Dir(cfg), "maps", "testdata", "leadsie", "failed.golden.json"))
				return []string{"-config", cfg, "leadsie"}
			},
			code:   1,
			stdout: []string{"FAIL leadsie/failed: ", "failed.golden.json is missing", `"event": "connection.created"`, "FAIL: 8 passed, 1 failed\n"},
		},
		{
			name: "a mapping without fixtures fails",
			args: func(t *testing.T) []string {
				cfg := copyMappings(t)
				os.RemoveAll(filepath.Join(filepath.Dir(cfg), "maps", "testdata", "website"))
				return []string{"-config", cfg}
			},
			code:   1,
			stdout: []string{"FAIL website: no fixtures in ", "FAIL: 19 passed, 1 failed\n"},
		},
		{
			name:   "an unknown source is an error",
			args:   func(*testing.T) []string { return []string{"-config", "../gateway.yaml", "website", "nope"} },
			code:   1,
			stderr: `test: "nope" is not a mapping in `,
			not:    []string{"PASS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"test"}, tt.args(t)...), nil, &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &out, &errOut)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("stdout has %q:\n%s", w, &out)
				}
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, &errOut)
			}
		})
	}
}
