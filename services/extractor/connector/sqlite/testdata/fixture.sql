-- Fixture of the SQLite connector's golden test: every asset kind SQLite
-- has. A SQLite file holds one database with one schema (main) and has no
-- comments, materialized views, partitions, routines or catalog of view
-- dependencies, so none of those appear. CHECK constraints are declared
-- (the golden shows they are not extracted: SQLite exposes them nowhere
-- but in the CREATE TABLE text).

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,                       -- rowid alias: never NULL
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT 'anonymous',
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE products (
  sku TEXT PRIMARY KEY,                         -- not a rowid alias: SQLite lets it be NULL
  name TEXT NOT NULL,
  parent_sku TEXT REFERENCES products (sku),    -- self reference
  UNIQUE (name, parent_sku)
);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES CUSTOMERS (id) ON UPDATE CASCADE, -- parent named in another case
  billing_id INTEGER REFERENCES customers (id) ON DELETE SET NULL,
  placed_at TEXT NOT NULL,
  "Mixed.Case ""Quoted""" TEXT,
  placed_day TEXT GENERATED ALWAYS AS (substr(placed_at, 1, 10)) STORED
);

-- Space and slash in the name, composite primary key, a foreign key without
-- a column list (to the parent's primary key), a virtual generated column.
CREATE TABLE "Order Lines/2024" (
  order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL,
  sku TEXT NOT NULL REFERENCES products,
  qty INTEGER NOT NULL CHECK (qty > 0),
  price REAL NOT NULL,
  total REAL GENERATED ALWAYS AS (qty * price) VIRTUAL,
  PRIMARY KEY (order_id, line_no)
);

-- Composite foreign key.
CREATE TABLE shipments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  FOREIGN KEY (order_id, line_no) REFERENCES "Order Lines/2024" (order_id, line_no)
);

CREATE TABLE "Ümlaut 表" (
  "Größe" INTEGER,
  "名前" TEXT COLLATE NOCASE,
  "100%" REAL
) STRICT;

CREATE TABLE kv (k TEXT NOT NULL, v BLOB, PRIMARY KEY (k)) WITHOUT ROWID;

-- No declared types; a default expression.
CREATE TABLE untyped (a, b DEFAULT (1 + 2), c);

CREATE UNIQUE INDEX customers_email_lower ON customers (lower(email));            -- expression
CREATE INDEX orders_customer_placed ON orders (customer_id, placed_at DESC);       -- multi-column
CREATE INDEX orders_unbilled ON orders (placed_at) WHERE billing_id IS NULL;       -- partial
CREATE INDEX "idx/odd.name" ON "Ümlaut 表" ("名前");

CREATE VIEW customer_orders AS
  SELECT c.id, c.email, count(o.id) AS order_count
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
  GROUP BY c.id;

CREATE VIEW "Order Lines/2024 view" AS SELECT * FROM "Order Lines/2024";

-- A virtual table (extracted as kind "foreign") and its shadow tables.
CREATE VIRTUAL TABLE product_search USING fts5(name, description);

INSERT INTO customers (id, email, name, status, created_at) VALUES
  (1, 'ada@example.com', 'Ada', 'active', '2024-01-01'),
  (2, 'bob@example.com', 'Bob', 'closed', '2024-01-02');
INSERT INTO products (sku, name, parent_sku) VALUES ('P1', 'Widget', NULL), ('P2', 'Widget mini', 'P1');
INSERT INTO orders (id, customer_id, billing_id, placed_at) VALUES
  (10, 1, 1, '2024-02-01T10:00:00'), (11, 1, NULL, '2024-02-02T11:00:00'), (12, 2, 2, '2024-02-03T12:00:00');
INSERT INTO "Order Lines/2024" (order_id, line_no, sku, qty, price) VALUES
  (10, 1, 'P1', 2, 9.5), (10, 2, 'P2', 1, 4.25), (11, 1, 'P1', 1, 9.5), (12, 1, 'P2', 3, 4.25);
INSERT INTO shipments (id, order_id, line_no) VALUES (1, 10, 1), (2, 10, 2);
INSERT INTO untyped (a, c) VALUES (1, 'x'), (2, 'y'), (3, 'z');
INSERT INTO product_search (name, description) VALUES ('Widget', 'A widget'), ('Widget mini', 'A small widget');

ANALYZE;
