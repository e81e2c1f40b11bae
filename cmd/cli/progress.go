package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/berthdev/berth/reconcile"
	"github.com/berthdev/berth/service"
)

// ProgressVersion is the version of berth's own fields in --progress json.
//
// Each line is one JSON object. Its first fields are docker compose's
// (v5.5.0, cmd/display/json.go), with the same names and meaning:
//
//	id         the object: "Container p-web-1", "Network p_default", "Image x"
//	parent_id  the object this one reports under (layers of a pull); omitted when none
//	status     Working, Done, Warning or Error
//	text       what happens: "Creating", "Started", "Skipped: optional dependency ..."
//	details    more about it (the error of an Error); omitted when empty
//	current, total, percent  progress figures; omitted when zero
//
// berth adds, after them: "version" (this constant; 1 was berth's earlier
// shape, where id was the bare name and status the text), "time" (RFC 3339,
// UTC), "kind" and "name" (the id split in two), and a few named extras
// ("context_bytes" of a build). Warnings are {"level":"warning","msg":...},
// as docker compose's logger writes them in json mode, with berth's fields
// beside them.
const ProgressVersion = 2

// The statuses of a progress event, docker compose's words.
const (
	statusWorking = "Working"
	statusDone    = "Done"
	statusWarning = "Warning"
	statusError   = "Error"
)

// progress renders plan steps as docker compose v5 does: one line per
// object (" Container p-web-1 Started "), redrawn in place under a
// "[+] up 2/3" header with ✔ marks and timers on a terminal, appended
// otherwise, or as JSON objects.
type progress struct {
	mode string // tty, plain, json, quiet
	w    io.Writer
	// op is the operation in the tty header ("up", "down", "remove").
	op string
	// detached shows Starting and Started in the tty view of commands other
	// than start; docker compose leaves them out there, not to mix them with
	// the containers' output (it reads the -d flag).
	detached bool
	color    bool
	// size is the terminal's width and height (80×24 when unknown).
	size func() (int, int)
	now  func() time.Time

	mu       sync.Mutex
	ids      []string         // tty: objects in the order they appeared
	tasks    map[string]*task // tty: by id
	numLines int              // tty: lines of the block drawn (without the header)
	drawn    bool             // tty: a block is on screen
	ticking  bool             // tty: the timer goroutine runs
	finished bool             // tty: finish was called; nothing more is drawn
}

// task is the state of one object in the tty view.
type task struct {
	id, status, text, details string
	start, end                time.Time
	spin                      int
}

// newProgress picks the renderer --progress (or COMPOSE_PROGRESS) asks for;
// auto means tty on a terminal, plain otherwise (--ansi never: plain, as
// docker compose).
func newProgress(g *globals) *progress {
	mode := g.progress
	if mode == "" {
		mode = g.getenv("COMPOSE_PROGRESS")
	}
	f, isFile := g.stdio.Err.(*os.File)
	if mode == "" || mode == "auto" {
		mode = "plain"
		// (--ansi always does not make it tty: docker compose v5.5.0 looks
		// at standard error only)
		if isFile && term.IsTerminal(int(f.Fd())) && g.ansi != "never" {
			mode = "tty"
		}
	}
	if mode == "none" {
		mode = "quiet"
	}
	if mode == "tty" && g.ansi == "never" {
		mode = "plain"
	}
	p := &progress{
		mode:  mode,
		w:     g.stdio.Err,
		op:    operation(g.command),
		color: g.getenv("NO_COLOR") == "",
		size:  func() (int, int) { return 80, 24 },
		now:   time.Now,
		tasks: map[string]*task{},
	}
	if isFile {
		p.size = func() (int, int) {
			w, h, err := term.GetSize(int(f.Fd()))
			if err != nil || w <= 0 || h <= 0 {
				return 80, 24
			}
			return w, h
		}
	}
	return p
}

// operation is docker compose's name of the operation a command runs, the
// word of the tty header.
func operation(command string) string {
	switch command {
	case "rm":
		return "remove"
	case "cp":
		return "copy"
	case "":
		return "berth"
	}
	return command
}

// verbs are the kind of object an operation acts on and its words while
// working and when done.
type verbs struct{ kind, working, done string }

// plainVerbs are the words of the operations whose words depend on
// nothing but the operation.
var plainVerbs = map[reconcile.Op]verbs{
	reconcile.OpCreateNetwork:      {"Network", "Creating", "Created"},
	reconcile.OpRemoveNetwork:      {"Network", "Removing", "Removed"},
	reconcile.OpCreateVolume:       {"Volume", "Creating", "Created"},
	reconcile.OpRemoveVolume:       {"Volume", "Removing", "Removed"},
	reconcile.OpStartContainer:     {"Container", "Starting", "Started"},
	reconcile.OpRemoveImage:        {"Image", "Removing", "Removed"},
	reconcile.OpKillContainer:      {"Container", "Killing", "Killed"},
	reconcile.OpPauseContainer:     {"Container", "Pausing", "Paused"},
	reconcile.OpUnpauseContainer:   {"Container", "Unpausing", "Unpaused"},
	reconcile.OpRunHook:            {"Hook", "Running", "Completed"},
	reconcile.OpUpdateSwarmService: {"Service", "Updating", "Updated"},
	reconcile.OpWaitSwarmService:   {"Service", "Converging", "Running"},
	reconcile.OpCreateSwarmService: {"", "Creating", "Created"},
	reconcile.OpCreateSwarmNetwork: {"", "Creating", "Created"},
	reconcile.OpCreateSwarmSecret:  {"", "Creating", "Created"},
	reconcile.OpCreateSwarmConfig:  {"", "Creating", "Created"},
	reconcile.OpRemoveSwarmService: {"", "Removing", "Removed"},
	reconcile.OpRemoveSwarmNetwork: {"", "Removing", "Removed"},
	reconcile.OpRemoveSwarmSecret:  {"", "Removing", "Removed"},
	reconcile.OpRemoveSwarmConfig:  {"", "Removing", "Removed"},
	reconcile.OpConnectNetwork:     {"Container", "Connecting", "Connected"},
	reconcile.OpDisconnectNetwork:  {"Container", "Disconnecting", "Disconnected"},
	reconcile.OpCreateContainer:    {"Container", "Creating", "Created"},
	reconcile.OpStopContainer:      {"Container", "Stopping", "Stopped"},
	reconcile.OpRemoveContainer:    {"Container", "Removing", "Removed"},
	reconcile.OpRenameContainer:    {"Container", "Renaming", "Renamed"},
}

// words are the verbs of an operation: while working, and when done.
// Hidden steps are not shown (docker compose shows none for them).
func words(s *reconcile.Step) (kind, name, working, done string, hidden bool) {
	name = s.Object
	v, ok := plainVerbs[s.Op]
	if !ok {
		v = verbs{"Object", "Working", "Done"}
	}
	if v.kind == "" {
		v.kind = swarmKind(s.Op)
	}
	kind, working, done = v.kind, v.working, v.done
	switch s.Op {
	case reconcile.OpConnectNetwork, reconcile.OpDisconnectNetwork:
		hidden = true
	case reconcile.OpCreateContainer:
		if s.Container != nil && s.Container.Labels[service.LabelReplace] != "" {
			// done when the rename puts it in place (see OpRenameContainer)
			return kind, s.Container.Labels[service.LabelReplace], "Recreate", "", false
		}
	case reconcile.OpStopContainer, reconcile.OpRemoveContainer:
		hidden = strings.HasPrefix(s.Cause, "replaced by ")
	case reconcile.OpRenameContainer:
		if strings.HasPrefix(s.Cause, "replaces the old ") {
			// the last step of a recreate: docker compose's "Recreated"
			return kind, s.NewName, "", "Recreated", false
		}
		return kind, s.NewName, working, done, true
	case reconcile.OpRunProvider:
		kind, working, done = providerWords(s.Provider.Command)
	case reconcile.OpWait:
		kind, working, done = "Container", "Waiting", waitedWord(s.Condition)
	}
	return kind, name, working, done, hidden
}

// providerWords are the words of a provider's command.
func providerWords(command string) (kind, working, done string) {
	switch command {
	case "down":
		return "Provider", "Removing", "Removed"
	case "stop":
		return "Provider", "Stopping", "Stopped"
	}
	return "Provider", "Creating", "Created"
}

// waitedWord is the word of a wait when done: the condition reached.
func waitedWord(c string) string {
	switch c {
	case reconcile.CondCompleted:
		return "Exited"
	case reconcile.CondRunningOrHealthy:
		return "Running"
	}
	return "Healthy"
}

// event renders one step event.
func (p *progress) event(e reconcile.Event) {
	kind, name, working, done, hidden := words(e.Step)
	if p.op == "restart" {
		// docker compose's restart: "Restarting" then "Started"
		switch e.Step.Op {
		case reconcile.OpStopContainer:
			working, done = "Restarting", ""
		case reconcile.OpStartContainer:
			working = ""
		}
	}
	switch e.Status {
	case reconcile.StatusWorking:
		if e.Text != "" {
			working = e.Text // what a provider reports
		}
		if working != "" && !hidden {
			p.emit(kind, name, statusWorking, working, "", nil)
		}
	case reconcile.StatusDone:
		if done != "" && !hidden {
			p.emit(kind, name, statusDone, done, "", nil)
		}
	case reconcile.StatusWarning:
		if e.Step.Op == reconcile.OpWait {
			text, msg := optionalDependency(e.Step, e.Err)
			p.emit(kind, name, statusWarning, text, "", nil)
			p.warn(msg)
			return
		}
		p.emit(kind, name, statusWarning, "Warning", errText(e.Err), nil)
	case reconcile.StatusFailed:
		p.emit(kind, name, statusError, "Error", errText(e.Err), nil)
	}
}

// errText is err's message, "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// optionalDependency words an optional dependency that did not become
// ready as docker compose does: the progress text ("Skipped: optional
// dependency "db" failed to start") and the warning with the reason.
func optionalDependency(s *reconcile.Step, err error) (text, warning string) {
	msg := errText(err)
	switch s.Condition {
	case reconcile.CondCompleted:
		// reconcile says: service "db" didn't complete successfully: exit 1
		rest := strings.TrimPrefix(msg, "service ")
		if rest == msg {
			rest = fmt.Sprintf("%q didn't complete successfully: %s", s.Service, msg)
		}
		return "Skipped: optional dependency " + rest, "optional dependency " + rest
	case reconcile.CondHealthy:
		head := fmt.Sprintf("optional dependency %q failed to start", s.Service)
		return "Skipped: " + head, head + ": " + strings.TrimPrefix(msg, "dependency failed to start: ")
	}
	head := fmt.Sprintf("optional dependency %q is not running or is unhealthy", s.Service)
	return "Skipped: " + head, head + ": " + strings.TrimPrefix(msg, "dependency failed to start: ")
}

// line shows the status of one object; whether it is working, done or
// failed is read from the text ("Copying", "Copied", "Error: ...").
func (p *progress) line(kind, name, text string, hidden bool) {
	p.lineWith(kind, name, text, hidden, nil)
}

// lineWith is line with extra fields for the json mode.
func (p *progress) lineWith(kind, name, text string, hidden bool, extra map[string]any) {
	if hidden {
		return
	}
	status, details := statusOf(text), ""
	if rest, ok := strings.CutPrefix(text, "Error: "); ok {
		text, details = "Error", rest
	} else if rest, ok := strings.CutPrefix(text, "Warning: "); ok {
		text, details = "Warning", rest
	}
	p.emit(kind, name, status, text, details, extra)
}

// statusOf tells a working text ("Creating") from a done one ("Created").
func statusOf(text string) string {
	switch {
	case strings.HasPrefix(text, "Error"):
		return statusError
	case strings.HasPrefix(text, "Warning"), strings.HasPrefix(text, "Skipped"):
		return statusWarning
	case text == "Recreate", text == "Waiting", strings.HasSuffix(strings.Fields(text + " x")[0], "ing"):
		return statusWorking
	}
	return statusDone
}

// done reports the objects already as asked, which need no step (docker
// compose's "Container p-web-1 Running" on an up that changes nothing).
func (p *progress) done(kind, text string, names []string) {
	for _, n := range names {
		p.emit(kind, n, statusDone, text, "", nil)
	}
}

// emit renders one event in the current mode.
func (p *progress) emit(kind, name, status, text, details string, extra map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(jsonEvent{ID: kind + " " + name, Status: status, Text: text, Details: details, Kind: kind, Name: name}, extra)
}

// write renders one record — an event, or a warning or notice (Level
// set) — with the current mode's encoder: JSON, the tty view, or a line of
// text. Callers hold p.mu.
func (p *progress) write(e jsonEvent, extra map[string]any) {
	switch {
	case p.mode == "quiet":
	case p.mode == "json":
		p.writeJSON(e, extra)
	case p.mode == "tty" && e.Level == "":
		p.ttyEvent(e)
	default:
		p.scroll(plainText(e))
	}
}

// plainText is a record as a line of text: docker compose's
// " <id> <text> <details>" for an event (fmt.Fprintln(out, prefix, id,
// text, details)), "WARN <msg>" for a warning, the message of a notice.
func plainText(e jsonEvent) string {
	switch e.Level {
	case "warning":
		return "WARN " + e.Msg
	case "info":
		return e.Msg
	}
	return " " + e.ID + " " + e.Text + " " + e.Details
}

// ttyEvent updates the tty view with an event. Callers hold p.mu.
func (p *progress) ttyEvent(e jsonEvent) {
	if p.finished {
		return
	}
	// (docker compose's restart hides them too, and ends its view on
	// "Restarting 0/2": berth shows them there)
	if p.op != "start" && p.op != "restart" && !p.detached && (e.Text == "Starting" || e.Text == "Started") {
		return
	}
	p.update(e.ID, e.Status, e.Text, e.Details)
	p.render()
	if !p.ticking && p.working() {
		p.ticking = true
		go p.tick()
	}
}

// jsonEvent is one line of --progress json (see ProgressVersion).
type jsonEvent struct {
	ID       string `json:"id,omitempty"`
	ParentID string `json:"parent_id,omitempty"`
	Status   string `json:"status,omitempty"`
	Text     string `json:"text,omitempty"`
	Details  string `json:"details,omitempty"`
	Current  int64  `json:"current,omitempty"`
	Total    int64  `json:"total,omitempty"`
	Percent  int    `json:"percent,omitempty"`
	// docker compose's logger's fields, for warnings and notices
	Level string `json:"level,omitempty"`
	Msg   string `json:"msg,omitempty"`

	Version int    `json:"version"`
	Time    string `json:"time"`
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name,omitempty"`
}

// writeJSON prints e and the extra fields (sorted) as one line. Callers
// hold p.mu.
func (p *progress) writeJSON(e jsonEvent, extra map[string]any) {
	e.Version = ProgressVersion
	e.Time = p.now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		v, err := json.Marshal(extra[k])
		if err != nil {
			continue
		}
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&buf, ",%s:%s", kb, v)
	}
	buf.WriteString("}\n")
	_, _ = p.w.Write(buf.Bytes())
}

// warn prints a warning in the current mode.
func (p *progress) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(jsonEvent{Level: "warning", Msg: msg, Kind: "warning"}, nil)
}

// notice prints a line that says what berth is doing, in every mode but
// quiet (in json: level info, kind notice).
func (p *progress) notice(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(jsonEvent{Level: "info", Msg: msg, Kind: "notice"}, nil)
}

// text prints a line of text in the plain and tty modes (not updated in
// place: it scrolls).
func (p *progress) text(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "plain" || p.mode == "tty" {
		p.scroll(msg)
	}
}

// scroll prints a line of text; on a terminal, above the block of
// progress lines, which is drawn again under it. Callers hold p.mu.
func (p *progress) scroll(msg string) {
	if p.mode != "tty" || !p.drawn {
		fmt.Fprintln(p.w, msg)
		return
	}
	// up to the header, clear to the end of the screen, the text, the block
	fmt.Fprintf(p.w, "\x1b[%dA\x1b[0G\x1b[J%s\n", p.numLines+1, msg)
	p.drawn = false
	p.render()
}

// update records an event of the tty view. Callers hold p.mu.
func (p *progress) update(id, status, text, details string) {
	now := p.now()
	t, ok := p.tasks[id]
	if !ok {
		t = &task{id: id, start: now}
		p.tasks[id] = t
		p.ids = append(p.ids, id)
	}
	if status != statusWorking && (t.status != status || !ok) {
		t.end = now
	}
	t.status, t.text, t.details = status, text, details
}

// working reports whether a task of the tty view is still working.
// Callers hold p.mu.
func (p *progress) working() bool {
	for _, t := range p.tasks {
		if t.status == statusWorking {
			return true
		}
	}
	return false
}

// finish ends the tty view (docker compose's Done): it is drawn a last
// time and no more, so that what the command prints next (the containers'
// output) is not drawn over, even if a step was cut short and never
// reported its end.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "tty" && !p.finished {
		p.render()
		p.finished = true
	}
}

// tick redraws the tty view every 100ms (spinners, timers) while a task
// works.
func (p *progress) tick() {
	for {
		time.Sleep(100 * time.Millisecond)
		p.mu.Lock()
		if p.finished || !p.working() {
			p.ticking = false
			p.mu.Unlock()
			return
		}
		p.render()
		p.mu.Unlock()
	}
}

// The tty view's colours and marks, docker compose's (cmd/display).
const (
	ansiReset   = "\x1b[0m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiWarning = "\x1b[33m\x1b[1m"
	ansiError   = "\x1b[31m\x1b[1m"
)

var spinnerChars = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (p *progress) paint(code, s string) string {
	if !p.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

// ttyLine is one line of the tty view, before padding: status and mark
// already coloured (when colours are on).
type ttyLine struct {
	mark, id, status, statusColor, details, timer string
	color                                         bool
}

// timerColored is the timer, blue when colours are on.
func (l ttyLine) timerColored(timer string) string {
	if !l.color {
		return timer
	}
	return ansiBlue + timer + ansiReset
}

// render draws the tty view as docker compose's does: the cursor back to
// the header, "[+] op done/total", one line per object with its mark,
// status aligned, and its timer at the right edge of the terminal. Callers
// hold p.mu.
func (p *progress) render() {
	if len(p.tasks) == 0 {
		return
	}
	width, height := p.size()
	var b strings.Builder
	b.WriteString("\x1b[?25l") // hide the cursor
	if p.drawn {
		fmt.Fprintf(&b, "\x1b[%dA", p.numLines+1)
	}
	b.WriteString("\x1b[0G")
	done := 0
	for _, t := range p.tasks {
		if t.status != statusWorking {
			done++
		}
	}
	fmt.Fprintf(&b, "[+] %s %d/%d\n", p.op, done, len(p.tasks))

	ids := p.ids
	more := len(ids) > max(height-2, 1)
	if more {
		ids = ids[:max(height-2, 1)-1]
	}
	lines, timerLen := p.ttyLines(ids)
	fitLines(lines, width, timerLen)
	writeLines(&b, lines, width, timerLen)
	n := len(lines)
	if more {
		text := fmt.Sprintf(" ... %d more", len(p.ids)-len(ids))
		b.WriteString(text + strings.Repeat(" ", max(width-len(text), 0)) + "\n")
		n++
	}
	for i := n; i < p.numLines; i++ { // clear what a longer block left
		b.WriteString(strings.Repeat(" ", width) + "\n")
		n++
	}
	b.WriteString("\x1b[?25h") // show the cursor
	_, _ = io.WriteString(p.w, b.String())
	p.numLines, p.drawn = n, true
}

// ttyLines makes the lines of the objects ids, their marks and timers, and
// returns them with the width of the widest timer. Callers hold p.mu.
func (p *progress) ttyLines(ids []string) ([]ttyLine, int) {
	now := p.now()
	lines := make([]ttyLine, len(ids))
	timerLen := 0
	for i, id := range ids {
		t := p.tasks[id]
		end := now
		if t.status != statusWorking {
			end = t.end
		}
		l := ttyLine{id: t.id, status: t.text, details: t.details, timer: fmt.Sprintf("%.1fs", end.Sub(t.start).Seconds()), color: p.color}
		switch t.status {
		case statusDone:
			l.mark, l.statusColor = p.paint(ansiGreen, "✔"), ansiGreen
		case statusWarning:
			l.mark, l.statusColor = p.paint(ansiWarning, "!"), ansiWarning
		case statusError:
			l.mark, l.statusColor = p.paint(ansiError, "✘"), ansiError
		default:
			if now.Sub(t.start) > 100*time.Millisecond {
				t.spin = (t.spin + 1) % len(spinnerChars)
			}
			l.mark = p.paint(ansiYellow, spinnerChars[t.spin])
		}
		if l.statusColor != "" {
			l.status = p.paint(l.statusColor, l.status)
		}
		timerLen = max(timerLen, len(l.timer))
		lines[i] = l
	}
	return lines, timerLen
}

// writeLines writes the lines: the statuses aligned, each timer ending at
// the terminal's right edge.
func writeLines(b *strings.Builder, lines []ttyLine, width, timerLen int) {
	before := 0
	for _, l := range lines {
		before = max(before, 3+utf8.RuneCountInString(l.id))
	}
	for _, l := range lines {
		timer := strings.Repeat(" ", timerLen-len(l.timer)) + l.timer
		statusPad := before - (3 + utf8.RuneCountInString(l.id))
		lineLen := before + 1 + visibleLen(l.status)
		if l.details != "" {
			lineLen += 1 + utf8.RuneCountInString(l.details)
		}
		timerPad := max(width-lineLen-timerLen, 1)
		b.WriteString(" " + l.mark + " " + l.id + strings.Repeat(" ", statusPad) + " " + l.status)
		if l.details != "" {
			b.WriteString(" " + l.details)
		}
		b.WriteString(strings.Repeat(" ", timerPad) + l.timerColored(timer) + "\n")
	}
}

// visibleLen is the width of s on a terminal, its colour codes left out.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			esc = true
		case esc && r == 'm':
			esc = false
		case !esc:
			n++
		}
	}
	return n
}

// fitLines shortens details, then the longest ids, until the lines fit
// the terminal's width, as docker compose does.
func fitLines(lines []ttyLine, width, timerLen int) {
	const minIDLen = 10
	maxStatus := 0
	for _, l := range lines {
		maxStatus = max(maxStatus, visibleLen(l.status))
	}
	for range 100 {
		before, overflow := 0, 0
		for _, l := range lines {
			before = max(before, 3+utf8.RuneCountInString(l.id))
		}
		for _, l := range lines {
			d := len(l.details)
			if d > 0 {
				d++
			}
			overflow = max(overflow, before+1+maxStatus+d+1+timerLen-width)
		}
		if overflow <= 0 {
			return
		}
		if !cutDetails(lines, overflow) && !cutLongestID(lines, overflow, minIDLen) {
			return
		}
	}
}

func cutDetails(lines []ttyLine, overflow int) bool {
	for i := range lines {
		l := &lines[i]
		if len(l.details) > 3 {
			cut := min(overflow, len(l.details)-3)
			l.details = l.details[:len(l.details)-cut-3] + "..."
			return true
		} else if l.details != "" {
			l.details = ""
			return true
		}
	}
	return false
}

func cutLongestID(lines []ttyLine, overflow, minIDLen int) bool {
	longest, longestLen := -1, minIDLen
	for i := range lines {
		if n := utf8.RuneCountInString(lines[i].id); n > longestLen {
			longest, longestLen = i, n
		}
	}
	if longest < 0 {
		return false
	}
	runes := []rune(lines[longest].id)
	lines[longest].id = string(runes[:max(longestLen-overflow-3, minIDLen-3)]) + "..."
	return true
}

// swarmKind names the kind of object a swarm step acts on.
func swarmKind(op reconcile.Op) string {
	switch op {
	case reconcile.OpCreateSwarmNetwork, reconcile.OpRemoveSwarmNetwork:
		return "Network"
	case reconcile.OpCreateSwarmSecret, reconcile.OpRemoveSwarmSecret:
		return "Secret"
	case reconcile.OpCreateSwarmConfig, reconcile.OpRemoveSwarmConfig:
		return "Config"
	}
	return "Service"
}
