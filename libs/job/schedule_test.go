package job

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const schedSpec = textCapSpec + "name: nightly\n"

func TestScheduleParsesAndValidates(t *testing.T) {
	s, err := ParseSpec([]byte(schedSpec + "schedule: {cron: \"30 2 * * *\", time_zone: Europe/Berlin}\n"))
	require.NoError(t, err)
	require.Equal(t, &Schedule{Cron: "30 2 * * *", TimeZone: "Europe/Berlin"}, s.Schedule)
	require.Equal(t, "cron 30 2 * * * (Europe/Berlin)", s.Schedule.String())

	s, err = ParseSpec([]byte(`{"version":1,"name":"nightly","connection":"default/sqlite/1","source":{"kind":"sqlite","dsn":"/tmp/x.db"},"schedule":{"every":"6h"}}`))
	require.NoError(t, err)
	require.Equal(t, "every 6h0m0s", s.Schedule.String())

	for schedule, want := range map[string]string{
		"{}":                          "schedule: set cron",
		"{cron: '@daily', every: 1h}": "set cron or every, not both",
		"{every: 5s}":                 "schedule.every: is 5s; use at least 10s",
		"{every: 1h, time_zone: UTC}": "an interval needs no time zone",
		"{cron: '0 2 * *'}":           "has 4 fields; write five",
		"{cron: '0 0 2 * * *'}":       "has 6 fields; write five",
		"{cron: '61 * * * *'}":        "is not a cron expression",
		"{cron: 'CRON_TZ=Europe/Berlin 0 2 * * *'}":   "put the zone in schedule.time_zone",
		"{cron: '@every 1h'}":                         "write it as schedule.every",
		"{cron: '@daily', time_zone: Mars/Olympus}":   `"Mars/Olympus" is not an IANA time zone`,
		"{cron: '@daily', time_zone: Local}":          "is not a zone name",
		"{cron: '@daily', time_zone: /etc/localtime}": "is not a zone name",
		"{cron: '@daily', bogus: 1}":                  `unknown field "bogus" in schedule`,
	} {
		_, err := ParseSpec([]byte(schedSpec + "schedule: " + schedule + "\n"))
		require.ErrorContains(t, err, want, schedule)
	}
	_, err = ParseSpec([]byte(textCapSpec + "schedule: {every: 1h}\n"))
	require.ErrorContains(t, err, "a scheduled spec needs a name")
	_, err = ParseSpec([]byte(textCapSpec + "name: Nightly_Run\nschedule: {every: 1h}\n"))
	require.ErrorContains(t, err, `name: is "Nightly_Run"`)
	_, err = ParseSpec([]byte(schedSpec + "dry_run: true\nschedule: {every: 1h}\n"))
	require.ErrorContains(t, err, "dry_run: a schedule runs for real")
}

func TestScheduleNextInterval(t *testing.T) {
	s := Schedule{Every: Duration(time.Hour)}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	next, err := s.Next(time.Time{}, now)
	require.NoError(t, err)
	require.Equal(t, now.Add(time.Hour), next, "a new interval first fires one interval from now")

	last := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	next, _ = s.Next(last, now)
	require.Equal(t, last.Add(time.Hour), next, "keeps its phase")

	// Down for five hours: one fire, in phase, not five.
	next, _ = s.Next(last, now.Add(5*time.Hour))
	require.Equal(t, time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC), next)
	next, _ = s.Next(last, time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC))
	require.Equal(t, time.Date(2026, 12, 4, 16, 30, 0, 0, time.UTC), next, "always after now")
}

func TestScheduleNextCronInItsZone(t *testing.T) {
	s := Schedule{Cron: "30 2 * * *", TimeZone: "Europe/Berlin"}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	next, err := s.Next(time.Time{}, now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 5, 1, 30, 0, 0, time.UTC), next, "02:30 in Berlin (UTC+1 in winter)")

	summer := time.Date(2026, 7, 4, 10, 0, 0, 0, time.UTC)
	next, _ = s.Next(time.Time{}, summer)
	require.Equal(t, time.Date(2026, 7, 5, 0, 30, 0, 0, time.UTC), next, "UTC+2 in summer")

	// Down for three days: the next fire after now, not the missed ones.
	last := time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC)
	next, _ = s.Next(last, now)
	require.Equal(t, time.Date(2026, 12, 5, 1, 30, 0, 0, time.UTC), next)
}

func TestScheduleNextClocksGoBack(t *testing.T) {
	// New York leaves daylight time at 02:00 on 1 November 2026: 01:30
	// happens twice. The schedule fires at the first and not again.
	s := Schedule{Cron: "30 1 * * *", TimeZone: "America/New_York"}
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	first, err := s.Next(time.Time{}, time.Date(2026, 11, 1, 0, 0, 0, 0, ny))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), first, "01:30 EDT")
	next, err := s.Next(first, first)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC), next, "then 01:30 EST the next day, not 01:30 EST an hour later")

	// Clocks going forward skip 02:30 on 8 March 2026: that day does not fire.
	s = Schedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}
	next, err = s.Next(time.Time{}, time.Date(2026, 3, 8, 0, 0, 0, 0, ny))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC), next)
}
