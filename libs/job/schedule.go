package job

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	// Time zones are resolved from the binary's own database: distroless
	// images have no /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Schedule says when a scheduled spec runs (ADR 0015): Cron, five fields
// (minute hour day-of-month month day-of-week) or a descriptor such as
// @daily, read in TimeZone; or Every, a fixed interval from the last fire.
type Schedule struct {
	Cron  string   `json:"cron,omitempty" yaml:"cron,omitempty"`
	Every Duration `json:"every,omitzero" yaml:"every,omitempty"`
	// TimeZone is an IANA zone name (default UTC) the cron fields are read
	// in; clocks going back never fire one wall-clock time twice.
	TimeZone string `json:"time_zone,omitempty" yaml:"time_zone,omitempty"`
}

// MinScheduleInterval is the shortest Every a schedule may have.
const MinScheduleInterval = 10 * time.Second

// ScheduleNamePattern is what a scheduled spec's name must match: it names
// the schedule in the API and in the Dapr scheduler's job names.
var ScheduleNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// problems lists what is wrong with the schedule, each naming its field.
func (s Schedule) problems() []string {
	var p []string
	switch {
	case s.Cron == "" && s.Every == 0:
		p = append(p, "schedule: set cron (e.g. \"0 */6 * * *\") or every (e.g. 6h)")
	case s.Cron != "" && s.Every != 0:
		p = append(p, "schedule: set cron or every, not both")
	case s.Every != 0 && s.Every.D() < MinScheduleInterval:
		p = append(p, fmt.Sprintf("schedule.every: is %s; use at least %s", s.Every.D(), MinScheduleInterval))
	case s.Every != 0 && s.TimeZone != "":
		p = append(p, "schedule.time_zone: an interval needs no time zone; remove it, or use cron")
	case s.Cron != "":
		if _, err := s.cron(); err != nil {
			p = append(p, "schedule.cron: "+err.Error())
		}
	}
	if _, err := s.location(); err != nil {
		p = append(p, "schedule.time_zone: "+err.Error())
	}
	return p
}

func (s Schedule) cron() (cron.Schedule, error) {
	c := strings.TrimSpace(s.Cron)
	up := strings.ToUpper(c)
	switch {
	case strings.HasPrefix(up, "CRON_TZ=") || strings.HasPrefix(up, "TZ="):
		return nil, fmt.Errorf("%q carries a time zone; put the zone in schedule.time_zone and leave it out of cron", s.Cron)
	case strings.HasPrefix(c, "@every"):
		return nil, fmt.Errorf("%q is an interval; write it as schedule.every (e.g. every: 6h)", s.Cron)
	}
	if n := len(strings.Fields(c)); !strings.HasPrefix(c, "@") && n != 5 {
		return nil, fmt.Errorf("%q has %d fields; write five: minute hour day-of-month month day-of-week (e.g. \"30 2 * * *\" is 02:30 every day)", s.Cron, n)
	}
	sched, err := cronParser.Parse(c)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression (%v); write five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly, @monthly", s.Cron, err)
	}
	return sched, nil
}

func (s Schedule) location() (*time.Location, error) {
	if s.TimeZone == "" || s.TimeZone == "UTC" {
		return time.UTC, nil
	}
	if s.TimeZone == "Local" || strings.HasPrefix(s.TimeZone, "/") {
		return nil, fmt.Errorf("%q is not a zone name; use an IANA name such as Europe/Berlin or UTC", s.TimeZone)
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone; use a name such as Europe/Berlin, America/New_York or UTC", s.TimeZone)
	}
	return loc, nil
}

// Next is the first fire time after last (the previous fire; zero for a
// new schedule) that is after now: fires missed while nothing could
// run them are not caught up, the schedule runs once and goes on. An
// interval keeps its phase (last + k×every); a new interval schedule first
// fires one interval from now. The schedule must be valid.
func (s Schedule) Next(last, now time.Time) (time.Time, error) {
	if s.Every != 0 {
		every := s.Every.D()
		if last.IsZero() {
			return now.Add(every).UTC().Truncate(time.Second), nil
		}
		t := last.Add(every)
		if !t.After(now) {
			t = t.Add((now.Sub(t)/every + 1) * every)
		}
		return t.UTC(), nil
	}
	sched, err := s.cron()
	if err != nil {
		return time.Time{}, err
	}
	loc, err := s.location()
	if err != nil {
		return time.Time{}, err
	}
	from := now
	if last.After(from) {
		from = last
	}
	t := sched.Next(from.In(loc))
	// Clocks going back repeat an hour: a wall-clock time the schedule
	// already fired at is not fired again.
	if !last.IsZero() && wallClock(t, loc) == wallClock(last, loc) {
		t = sched.Next(t)
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("schedule %s never fires again", s)
	}
	return t.UTC(), nil
}

func wallClock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// String is the schedule as listings show it: "every 6h0m0s" or
// "cron 0 */6 * * * (Europe/Berlin)".
func (s Schedule) String() string {
	if s.Every != 0 {
		return "every " + s.Every.D().String()
	}
	tz := s.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	return "cron " + strings.TrimSpace(s.Cron) + " (" + tz + ")"
}

// ScheduledJobID is the id of the job a schedule's fire at at starts:
// s-20261204-020000-NAME. One fire time is one job, however often the
// scheduler delivers the fire.
func ScheduledJobID(schedule string, at time.Time) string {
	return "s-" + at.UTC().Format("20060102-150405") + "-" + schedule
}

// Outcomes of a schedule's fire.
const (
	FireStarted = "started" // a job was submitted
	FireSkipped = "skipped" // a run of the connection was still queued or running
)

// ScheduleFire is what one fire of a schedule did.
type ScheduleFire struct {
	At      time.Time `json:"at"` // the fire time the schedule gave, not when it was delivered
	Outcome string    `json:"outcome"`
	JobID   string    `json:"job_id,omitempty"` // the job started, or the run that made it skip
	Reason  string    `json:"reason,omitempty"`
}

// ScheduleStatus is a schedule as GET /v1/schedules answers it.
type ScheduleStatus struct {
	Name        string        `json:"name"`
	Connection  string        `json:"connection"`
	SourceKind  string        `json:"source_kind"`
	Schedule    Schedule      `json:"schedule"`
	Description string        `json:"description"` // Schedule.String()
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	NextRun     time.Time     `json:"next_run"`
	LastRun     *ScheduleFire `json:"last_run,omitempty"`
	Started     int64         `json:"started"` // fires that started a job
	Skipped     int64         `json:"skipped"` // fires skipped because a run was still going
}

// ScheduleList is the answer to GET /v1/schedules, by name.
type ScheduleList struct {
	Schedules []ScheduleStatus `json:"schedules"`
}
