-- Fixture for the PostgreSQL connector's golden test: every asset kind the
-- connector reads, with names that stress quoting and qualified-name escaping.
-- Loaded into a fresh database by the tests; owner is the loading role.

CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'Orders and customers';
CREATE SCHEMA inventory;
CREATE SCHEMA "Ümlaut 表";
CREATE SCHEMA "we/ird.schema";

CREATE TABLE sales.customers (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    email      varchar(320) UNIQUE,
    tier       smallint NOT NULL DEFAULT 1 CHECK (tier BETWEEN 1 AND 3),
    created    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sales.customers IS 'People who buy things';
COMMENT ON COLUMN sales.customers.email IS 'Contact address';
CREATE INDEX customers_lower_email_idx ON sales.customers (lower(email));

CREATE TABLE inventory.products (
    sku        text PRIMARY KEY,
    vendor     text NOT NULL,
    vendor_sku text NOT NULL,
    tags       text[] NOT NULL DEFAULT '{}',
    CONSTRAINT products_vendor_uq UNIQUE (vendor, vendor_sku)
);
CREATE INDEX products_tags_gin ON inventory.products USING gin (tags);

CREATE TABLE sales.orders (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id    integer NOT NULL REFERENCES sales.customers (id) ON DELETE CASCADE,
    status         text NOT NULL DEFAULT 'new',
    amount         numeric(12, 2) NOT NULL CONSTRAINT orders_amount_positive CHECK (amount >= 0),
    amount_gross   numeric GENERATED ALWAYS AS (amount * 1.2) STORED,
    placed_at      timestamp(3) without time zone
);
CREATE INDEX orders_open_idx ON sales.orders (placed_at) WHERE status <> 'done';
CREATE INDEX orders_customer_status_idx ON sales.orders (customer_id, status DESC);

-- Composite primary key; one foreign key in the same schema, one across schemas.
CREATE TABLE sales.order_items (
    order_id   bigint NOT NULL REFERENCES sales.orders (id),
    line_no    integer NOT NULL,
    sku        text NOT NULL,
    quantity   integer NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_items_sku_fk FOREIGN KEY (sku) REFERENCES inventory.products (sku) ON UPDATE CASCADE ON DELETE RESTRICT
);

-- Names with spaces, quotes, '/', '.', mixed case and non-ASCII; a composite
-- foreign key whose column order differs from the table's.
CREATE TABLE "Ümlaut 表"."Tabelle ""quoted"" / slash.dot" (
    "Größe / size" integer NOT NULL,
    "MixedCase"    text NOT NULL,
    vendor_sku     text NOT NULL,
    vendor         text NOT NULL,
    customer_id    integer,
    CONSTRAINT "PK Ümlaut" PRIMARY KEY ("MixedCase", "Größe / size"),
    CONSTRAINT "fk/vendor" FOREIGN KEY (vendor, vendor_sku) REFERENCES inventory.products (vendor, vendor_sku),
    CONSTRAINT umlaut_customer_fk FOREIGN KEY (customer_id) REFERENCES sales.customers (id) ON UPDATE SET NULL ON DELETE SET DEFAULT
);
COMMENT ON TABLE "Ümlaut 表"."Tabelle ""quoted"" / slash.dot" IS 'Größe matters';
COMMENT ON COLUMN "Ümlaut 表"."Tabelle ""quoted"" / slash.dot"."Größe / size" IS 'in cm';
CREATE UNIQUE INDEX "Idx ""q"" / u" ON "Ümlaut 表"."Tabelle ""quoted"" / slash.dot" ("MixedCase", lower(vendor));

CREATE TABLE "we/ird.schema"."a.b/c" (
    "x/y" integer PRIMARY KEY,
    "100%" text
);

-- A table the temp-table filter is meant to skip.
CREATE TABLE sales.tmp_import_2024 (raw text);

CREATE TABLE public.settings (key text PRIMARY KEY, value text);

-- Partitioned table with partitions, a partitioned index and a foreign key
-- that references the partitioned table (PostgreSQL clones such constraints
-- per referenced partition; the connector must report it once).
CREATE TABLE sales.events (
    id   bigint NOT NULL,
    at   date NOT NULL,
    kind text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE sales.events_2024 PARTITION OF sales.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales.events_2025 PARTITION OF sales.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_kind_idx ON sales.events (kind);
CREATE TABLE sales.event_notes (
    event_id bigint NOT NULL,
    event_at date NOT NULL,
    note     text,
    FOREIGN KEY (event_id, event_at) REFERENCES sales.events (id, at)
);

-- Views: one on tables, one on a view, one across schemas; a materialized view.
CREATE VIEW sales.customer_orders AS
    SELECT c.id AS customer_id, c.name, o.id AS order_id, o.amount
    FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id;
COMMENT ON VIEW sales.customer_orders IS 'One row per order';
CREATE VIEW sales.big_customers AS
    SELECT customer_id, sum(amount) AS total FROM sales.customer_orders GROUP BY customer_id HAVING sum(amount) > 1000;
CREATE VIEW "Ümlaut 表"."Sicht / view" AS
    SELECT i.sku, p.vendor, t."Größe / size"
    FROM sales.order_items i
    JOIN inventory.products p ON p.sku = i.sku
    CROSS JOIN "Ümlaut 表"."Tabelle ""quoted"" / slash.dot" t;
CREATE MATERIALIZED VIEW sales.order_totals AS
    SELECT o.customer_id, count(*) AS orders, sum(i.quantity) AS items
    FROM sales.orders o JOIN sales.order_items i ON i.order_id = o.id
    GROUP BY o.customer_id;
CREATE UNIQUE INDEX order_totals_customer_idx ON sales.order_totals (customer_id);

-- A foreign table on a handler-less wrapper (declares the table; never read).
CREATE FOREIGN DATA WRAPPER fixture_fdw;
CREATE SERVER fixture_server FOREIGN DATA WRAPPER fixture_fdw;
CREATE FOREIGN TABLE inventory.remote_stock (sku text NOT NULL, on_hand integer) SERVER fixture_server;
COMMENT ON FOREIGN TABLE inventory.remote_stock IS 'Stock kept by the warehouse system';

-- Routines: overloaded functions, plpgsql, a procedure, an aggregate, odd names.
CREATE FUNCTION sales.order_total(order_id bigint) RETURNS numeric
    LANGUAGE sql STABLE AS $$ SELECT amount FROM sales.orders WHERE id = order_id $$;
COMMENT ON FUNCTION sales.order_total(bigint) IS 'Net amount of one order';
CREATE FUNCTION sales.order_total(order_id bigint, gross boolean DEFAULT false) RETURNS numeric
    LANGUAGE sql STABLE AS $$ SELECT CASE WHEN gross THEN amount_gross ELSE amount END FROM sales.orders WHERE id = order_id $$;
CREATE FUNCTION inventory.restock(p_sku text, INOUT qty integer, OUT note text)
    LANGUAGE plpgsql AS $$ BEGIN qty := qty + 1; note := p_sku; END $$;
CREATE PROCEDURE sales.archive_orders(before date)
    LANGUAGE plpgsql AS $$ BEGIN DELETE FROM sales.orders WHERE placed_at < before; END $$;
CREATE AGGREGATE sales.text_concat(text) (SFUNC = textcat, STYPE = text, INITCOND = '');
CREATE FUNCTION "Ümlaut 表"."do/it ""now"""() RETURNS SETOF sales.customers
    LANGUAGE sql AS $$ SELECT * FROM sales.customers $$;
