package mysql

import (
	"context"
	"database/sql"

	"github.com/secure-agent/secure-agent/libs/model"
)

// partitionName names a partition after MySQL's own partition file names.
func partitionName(table, partition string) string { return table + "#P#" + partition }

func subpartitionName(table, partition, sub string) string {
	return partitionName(table, partition) + "#SP#" + sub
}

// readPartitions emits one table row (kind "partition") per partition and
// subpartition of the included partitioned tables, with table_stats for
// the leaves. Rows arrive ordered, so a subpartitioned partition's own row
// is written when its first subpartition arrives.
func (s scope) readPartitions(ctx context.Context, q *counter, _ serverInfo, w *model.Writer) error {
	var cond where
	s.tableFilter(&cond, "TABLE_SCHEMA", "TABLE_NAME")
	query := "SELECT TABLE_SCHEMA, TABLE_NAME, PARTITION_NAME, SUBPARTITION_NAME," +
		" UNIX_TIMESTAMP(CREATE_TIME), UNIX_TIMESTAMP(UPDATE_TIME), TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH, " +
		textCol("PARTITION_COMMENT", textChars(w)) +
		" FROM information_schema.PARTITIONS" +
		" WHERE PARTITION_NAME IS NOT NULL AND " + cond.sql() +
		" ORDER BY CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY), PARTITION_ORDINAL_POSITION, SUBPARTITION_ORDINAL_POSITION"

	var last struct{ schema, table, partition string }
	return q.each(ctx, stPartitions, query, cond.args, func(rows *sql.Rows) error {
		var (
			schema, table, partition string
			sub, comment             sql.NullString
			created, updated         sql.NullFloat64
			rowCount, bytes          sql.NullInt64
		)
		if err := rows.Scan(&schema, &table, &partition, &sub, &created, &updated, &rowCount, &bytes, &comment); err != nil {
			return err
		}
		if !s.tableIncluded(schema, table) {
			return nil
		}
		parent := s.names(schema, table)
		leaf := s.names(schema, partitionName(table, partition))
		of := parent.TableQN()
		if sub.Valid {
			if last.schema != schema || last.table != table || last.partition != partition {
				last.schema, last.table, last.partition = schema, table, partition
				if err := w.Table(partitionRow(leaf, &of, comment, sql.NullFloat64{}, sql.NullFloat64{})); err != nil {
					return err
				}
			}
			of = leaf.TableQN()
			leaf = s.names(schema, subpartitionName(table, partition, sub.String))
			comment = sql.NullString{} // the comment belongs to the partition
		}
		if err := w.Table(partitionRow(leaf, &of, comment, created, updated)); err != nil {
			return err
		}
		return w.TableStats(model.TableStats{
			QualifiedName: leaf.TableQN(), ParentQualifiedName: leaf.TableQN(),
			Database: DatabaseName, Schema: schema, Table: leaf.Table,
			RowCount: nullInt(rowCount), TotalBytes: nullInt(bytes),
		})
	})
}

func partitionRow(n model.Names, of *string, comment sql.NullString, created, updated sql.NullFloat64) model.Table {
	return model.Table{
		QualifiedName: n.TableQN(), ParentQualifiedName: n.SchemaQN(),
		Database: DatabaseName, Schema: n.Schema, Name: n.Table, Kind: model.TableKindPartition,
		Comment: str(comment), CreatedAt: unixTime(created), AlteredAt: unixTime(updated), PartitionOf: of,
	}
}
