package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/e2e/internal/benchcat"
)

// mariaDSN is the administrator on the local MariaDB (trust by socket
// credentials: root with no password), for agentctl and the bench alike.
const (
	mariaDSN      = "root@tcp(127.0.0.1:3306)/"
	mariaAdminDSN = mariaDSN + "?multiStatements=true"
)

// mariadbSide extracts the catalog's databases with agentctl; its floor
// replays, with the mariadb client, exactly the statements an extraction
// sends: they are read off the server's general query log during one
// extra run (prepared statements are logged with their values), so no copy
// of the connector's SQL exists here to drift.
func mariadbSide(ctx context.Context, cfg config, agentctl string, cat benchcat.MariaDB, tmp string) (side, int, error) {
	args := []string{"--source", "mysql", "--dsn", mariaDSN}
	for _, s := range cat.Schemas() {
		args = append(args, "--database", s)
	}
	stmts, err := loggedStatements(ctx, func() error {
		_, _, _, err := runAgentctl(ctx, agentctl, args, filepath.Join(tmp, "out-logged"))
		return err
	})
	if err != nil {
		return side{}, 0, err
	}
	if err := os.RemoveAll(filepath.Join(tmp, "out-logged")); err != nil {
		return side{}, 0, err
	}
	script := filepath.Join(tmp, "catalog-mariadb.sql")
	if err := os.WriteFile(script, []byte(strings.Join(stmts, ";\n")+";\n"), 0o600); err != nil {
		return side{}, 0, err
	}
	return side{
		extractArgs: args,
		floorName:   "mariadb",
		floor: func(ctx context.Context) (time.Duration, error) {
			return runMariaDB(ctx, cfg.mariadb, script)
		},
	}, len(stmts), nil
}

// loggedStatements turns the general log on (to a table), runs run, turns
// it back to what it was, and returns the SELECT and SHOW statements of
// every other session, in order.
func loggedStatements(ctx context.Context, run func() error) ([]string, error) {
	db, err := sql.Open("mysql", mariaAdminDSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one session: its own statements are left out by id
	var self int64
	var prevLog, prevOutput string
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID(), @@global.general_log, @@global.log_output").Scan(&self, &prevLog, &prevOutput); err != nil {
		return nil, fmt.Errorf("read MariaDB's log settings: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log; SET GLOBAL general_log = 'ON'"); err != nil {
		return nil, fmt.Errorf("turn on MariaDB's general log (the bench needs SUPER): %w", err)
	}
	runErr := run()
	_, restoreErr := db.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("SET GLOBAL general_log = %s; SET GLOBAL log_output = '%s'",
		map[string]string{"1": "'ON'", "0": "'OFF'"}[prevLog], strings.ReplaceAll(prevOutput, "'", "")))
	if err := errors.Join(runErr, restoreErr); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT argument FROM mysql.general_log
		WHERE thread_id <> ? AND command_type IN ('Query', 'Execute') ORDER BY event_time`, self)
	if err != nil {
		return nil, fmt.Errorf("read MariaDB's general log: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var arg []byte
		if err := rows.Scan(&arg); err != nil {
			return nil, err
		}
		q := strings.TrimSpace(string(arg))
		if u := strings.ToUpper(q); strings.HasPrefix(u, "SELECT") || strings.HasPrefix(u, "SHOW") || strings.HasPrefix(u, "WITH") {
			out = append(out, q)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("MariaDB's general log holds no statement of the extraction")
	}
	return out, nil
}

func runMariaDB(ctx context.Context, bin, script string) (time.Duration, error) {
	in, err := os.Open(script)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-P", "3306", "-u", "root", "--batch", "--skip-column-names", "--raw")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil || stderr.Len() > 0 {
		return 0, fmt.Errorf("mariadb: %v\n%s", err, tail(stderr.String()))
	}
	return d, nil
}
