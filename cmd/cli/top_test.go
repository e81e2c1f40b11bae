package cli

import (
	"bytes"
	"testing"
)

// TestPrintTop pins docker compose top's layout: the container's name, the
// table (every process field followed by a tab, hence the trailing
// spaces), an empty line.
func TestPrintTop(t *testing.T) {
	var buf bytes.Buffer
	titles := []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
	procs := [][]string{
		{"root", "23339", "23318", "0", "04:03", "?", "00:00:00", "sleep 600"},
		{"nobody", "7", "23339", "0", "04:03", "?", "00:00:00", "httpd -f -p 8080"},
	}
	if err := printTop(&buf, "p-web-1", titles, procs); err != nil {
		t.Fatal(err)
	}
	if err := printTop(&buf, "p-db-1", titles[:2], [][]string{{"root", "1"}}); err != nil {
		t.Fatal(err)
	}
	want := "p-web-1\n" +
		"UID      PID     PPID    C    STIME   TTY   TIME       CMD\n" +
		"root     23339   23318   0    04:03   ?     00:00:00   sleep 600          \n" +
		"nobody   7       23339   0    04:03   ?     00:00:00   httpd -f -p 8080   \n" +
		"\n" +
		"p-db-1\n" +
		"UID    PID\n" +
		"root   1    \n" +
		"\n"
	if got := buf.String(); got != want {
		t.Errorf("printTop wrote\n%q\nwant\n%q", got, want)
	}
}
