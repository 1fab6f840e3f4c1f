package mysql

import (
	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// dialTarget is the address the driver dials for cfg: the configuration it
// hands BeforeConnect is the one it connects with.
func dialTarget(cfg *mysqldrv.Config) connector.Target {
	return connector.Target{Network: cfg.Net, Address: cfg.Addr}
}
