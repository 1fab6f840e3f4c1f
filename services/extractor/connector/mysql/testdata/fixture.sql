-- Fixture for the MySQL/MariaDB connector tests. {{P}} is replaced by a
-- prefix unique to the test run; the golden file shows it as {{P}}.
-- Covers: three schemas (one with '/', '.', a space, mixed case and
-- non-ASCII in its name), comments, views, partitioned tables with
-- partitions and subpartitions, foreign keys (one across schemas, one
-- composite), unique and check constraints, a composite primary key,
-- unique / multi-column / prefix / fulltext indexes and an index on a
-- generated column, functions and procedures, generated columns, defaults,
-- and quoted, mixed-case, unicode names with spaces, '/', '.', and quotes.
--
-- In mysql.golden every MySQL schema is a model schema under the server's
-- one model database "default" ({connection}/default/{schema}/{table}, see
-- doc.go); partitions are tables named {table}#P#{partition}. MariaDB has no
-- view dependency catalog, so the golden file has no lineage rows.

CREATE DATABASE `{{P}}sales` COMMENT 'Orders and customers';
CREATE DATABASE `{{P}}inventory`;
CREATE DATABASE `{{P}}Odd/Sch.ema ü`;

CREATE TABLE `{{P}}inventory`.products (
  sku VARCHAR(32) NOT NULL PRIMARY KEY COMMENT 'Stock keeping unit',
  vendor VARCHAR(40) NOT NULL,
  code INT NOT NULL,
  description TEXT,
  price DECIMAL(10,2) NOT NULL DEFAULT 0.00,
  UNIQUE KEY uq_vendor_code (vendor, code),
  FULLTEXT KEY ft_description (description),
  CONSTRAINT chk_price CHECK (price >= 0)
) ENGINE=InnoDB COMMENT='Products we sell';

CREATE TABLE `{{P}}sales`.customers (
  id INT NOT NULL AUTO_INCREMENT,
  email VARCHAR(200) NOT NULL,
  name VARCHAR(100) NOT NULL DEFAULT 'anonymous' COMMENT 'Display name',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  nickname VARCHAR(50) NULL DEFAULT NULL,
  email_domain VARCHAR(200) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_email (email),
  KEY ix_name_prefix (name(10)),
  KEY ix_email_domain (email_domain)
) ENGINE=InnoDB COMMENT='People who buy';

CREATE TABLE `{{P}}sales`.orders (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
  amount DECIMAL(12,2) NOT NULL,
  tax DECIMAL(12,2) NOT NULL DEFAULT 0,
  total DECIMAL(12,2) AS (amount + tax) STORED COMMENT 'amount + tax',
  placed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY ix_customer_placed (customer_id, placed_at),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES `{{P}}sales`.customers (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT chk_amount CHECK (amount >= 0)
) ENGINE=InnoDB;

-- Composite primary key, a cross-schema foreign key and a composite one.
CREATE TABLE `{{P}}sales`.order_items (
  order_id INT NOT NULL,
  line_no SMALLINT NOT NULL,
  sku VARCHAR(32) NOT NULL,
  vendor VARCHAR(40) NOT NULL,
  code INT NOT NULL,
  quantity INT NOT NULL DEFAULT 1 CHECK (quantity > 0),
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES `{{P}}sales`.orders (id) ON DELETE CASCADE,
  CONSTRAINT fk_items_product FOREIGN KEY (sku) REFERENCES `{{P}}inventory`.products (sku),
  CONSTRAINT fk_items_vendor_code FOREIGN KEY (vendor, code) REFERENCES `{{P}}inventory`.products (vendor, code) ON UPDATE CASCADE
) ENGINE=InnoDB COMMENT='Lines of an order';

-- Partitioned by range, and one with subpartitions.
CREATE TABLE `{{P}}sales`.events (
  id BIGINT NOT NULL,
  happened_year INT NOT NULL,
  payload VARCHAR(255),
  PRIMARY KEY (id, happened_year)
) ENGINE=InnoDB COMMENT='Event log'
PARTITION BY RANGE (happened_year) (
  PARTITION p2023 VALUES LESS THAN (2024) COMMENT = 'old',
  PARTITION p2024 VALUES LESS THAN (2025),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);

CREATE TABLE `{{P}}sales`.metrics (
  id INT NOT NULL,
  bucket INT NOT NULL,
  v DOUBLE
) ENGINE=InnoDB
PARTITION BY RANGE (bucket) SUBPARTITION BY HASH (id) SUBPARTITIONS 2 (
  PARTITION lo VALUES LESS THAN (100),
  PARTITION hi VALUES LESS THAN MAXVALUE
);

-- Matched by the temp-table filter in the tests.
CREATE TABLE `{{P}}sales`.tmp_scratch (x INT);

CREATE VIEW `{{P}}sales`.v_customer_orders AS
  SELECT c.id AS customer_id, c.email, o.id AS order_id, o.total
  FROM `{{P}}sales`.customers c JOIN `{{P}}sales`.orders o ON o.customer_id = c.id;

CREATE FUNCTION `{{P}}sales`.order_total(p_order INT) RETURNS DECIMAL(12,2)
  READS SQL DATA COMMENT 'Sum of an order'
  RETURN (SELECT total FROM `{{P}}sales`.orders WHERE id = p_order);

CREATE PROCEDURE `{{P}}sales`.close_order(IN p_order INT, OUT p_rows INT)
  MODIFIES SQL DATA
BEGIN
  UPDATE `{{P}}sales`.orders SET status = 'shipped' WHERE id = p_order;
  SET p_rows = ROW_COUNT();
END;

-- Odd names: '/', '.', spaces, quotes, mixed case and non-ASCII.
CREATE TABLE `{{P}}Odd/Sch.ema ü`.`Ümlaut 表` (
  `Id` INT NOT NULL PRIMARY KEY,
  `Spaced Col` VARCHAR(20) DEFAULT 'a b',
  `a/b` INT,
  `dot.col` INT,
  `quote"d` INT,
  `back``tick` INT,
  `it's` VARCHAR(10) DEFAULT 'it''s',
  UNIQUE KEY `uq/a.b` (`a/b`, `dot.col`)
) COMMENT='Ünïcödé table';

CREATE TABLE `{{P}}Odd/Sch.ema ü`.`Mixed/Case.Table "q"` (
  `ID` INT NOT NULL PRIMARY KEY,
  `Ref` INT,
  CONSTRAINT `fk/odd` FOREIGN KEY (`Ref`) REFERENCES `{{P}}Odd/Sch.ema ü`.`Ümlaut 表` (`Id`)
);

CREATE VIEW `{{P}}Odd/Sch.ema ü`.`v/odd.view` AS
  SELECT `Id`, `a/b` FROM `{{P}}Odd/Sch.ema ü`.`Ümlaut 表`;

CREATE FUNCTION `{{P}}Odd/Sch.ema ü`.`fn/odd`(`x y` INT, `ü` VARCHAR(10)) RETURNS INT DETERMINISTIC
  RETURN `x y` + CHAR_LENGTH(`ü`);
