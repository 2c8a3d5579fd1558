package leadexport

import "testing"

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"plain":          "plain",
		"=1+2":           "'=1+2",
		"+14155550100":   "'+14155550100",
		"-5":             "'-5",
		"@SUM(A1)":       "'@SUM(A1)",
		"\t=1":           "'\t=1",
		"\r=1":           "'\r=1",
		"a=1":            "a=1",
		"'already":       "'already",
		"Zoë":            "Zoë",
		" =not at start": " =not at start",
	} {
		if got := safeCell(in); got != want {
			t.Errorf("safeCell(%q) = %q, want %q", in, got, want)
		}
	}
}
