-- The demo retail database: what `make run` extracts out of the box. A
-- plausible e-commerce schema with the features a catalog shows: composite
-- and rowid primary keys, foreign keys (composite, self-referencing, with
-- actions), UNIQUE and CHECK constraints, defaults, generated columns,
-- composite, partial, unique and expression indexes, a WITHOUT ROWID
-- table, and views.

-- Geography -----------------------------------------------------------------

CREATE TABLE regions (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE countries (
  code TEXT PRIMARY KEY CHECK (length(code) = 2),
  name TEXT NOT NULL UNIQUE,
  region_id INTEGER NOT NULL REFERENCES regions (id),
  currency TEXT NOT NULL DEFAULT 'EUR' CHECK (length(currency) = 3)
) WITHOUT ROWID;

CREATE TABLE exchange_rates (
  currency TEXT NOT NULL,
  day TEXT NOT NULL,
  rate_to_eur REAL NOT NULL CHECK (rate_to_eur > 0),
  PRIMARY KEY (currency, day)
);

-- Organisation --------------------------------------------------------------

CREATE TABLE departments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  parent_department_id INTEGER REFERENCES departments (id),
  cost_center TEXT NOT NULL UNIQUE
);

CREATE TABLE employees (
  id INTEGER PRIMARY KEY,
  department_id INTEGER NOT NULL REFERENCES departments (id),
  manager_id INTEGER REFERENCES employees (id) ON DELETE SET NULL,
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  job_title TEXT NOT NULL,
  hired_on TEXT NOT NULL,
  salary_eur INTEGER NOT NULL CHECK (salary_eur > 0),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  full_name TEXT GENERATED ALWAYS AS (first_name || ' ' || last_name) VIRTUAL
);

CREATE TABLE warehouses (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  city TEXT NOT NULL,
  country_code TEXT NOT NULL REFERENCES countries (code),
  manager_id INTEGER REFERENCES employees (id),
  capacity_units INTEGER NOT NULL CHECK (capacity_units > 0)
);

CREATE TABLE stores (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  city TEXT NOT NULL,
  country_code TEXT NOT NULL REFERENCES countries (code),
  manager_id INTEGER REFERENCES employees (id),
  opened_on TEXT NOT NULL
);

-- Customers -----------------------------------------------------------------

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  phone TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
  marketing_opt_in INTEGER NOT NULL DEFAULT 0 CHECK (marketing_opt_in IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  full_name TEXT GENERATED ALWAYS AS (first_name || ' ' || last_name) VIRTUAL
);

CREATE TABLE addresses (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('billing', 'shipping')),
  line1 TEXT NOT NULL,
  line2 TEXT,
  city TEXT NOT NULL,
  postal_code TEXT NOT NULL,
  country_code TEXT NOT NULL REFERENCES countries (code),
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
);

CREATE TABLE customer_segments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT
);

CREATE TABLE customer_segment_members (
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  segment_id INTEGER NOT NULL REFERENCES customer_segments (id) ON DELETE CASCADE,
  added_on TEXT NOT NULL,
  PRIMARY KEY (customer_id, segment_id)
);

CREATE TABLE loyalty_accounts (
  customer_id INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
  tier TEXT NOT NULL DEFAULT 'bronze' CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
  points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
  joined_on TEXT NOT NULL
);

CREATE TABLE payment_methods (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('card', 'paypal', 'bank_transfer', 'gift_card')),
  card_last4 TEXT CHECK (card_last4 IS NULL OR length(card_last4) = 4),
  expires_on TEXT,
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
);

-- Catalog -------------------------------------------------------------------

CREATE TABLE categories (
  id INTEGER PRIMARY KEY,
  parent_id INTEGER REFERENCES categories (id),
  name TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE
);

CREATE TABLE brands (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  country_code TEXT REFERENCES countries (code)
);

CREATE TABLE suppliers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  contact_email TEXT NOT NULL,
  country_code TEXT NOT NULL REFERENCES countries (code),
  lead_time_days INTEGER NOT NULL DEFAULT 7 CHECK (lead_time_days BETWEEN 0 AND 120),
  rating REAL CHECK (rating BETWEEN 0 AND 5)
);

CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  sku TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  category_id INTEGER NOT NULL REFERENCES categories (id),
  brand_id INTEGER REFERENCES brands (id),
  supplier_id INTEGER NOT NULL REFERENCES suppliers (id),
  unit_price REAL NOT NULL CHECK (unit_price > 0),
  unit_cost REAL NOT NULL CHECK (unit_cost > 0),
  weight_grams INTEGER CHECK (weight_grams > 0),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  margin REAL GENERATED ALWAYS AS (round(unit_price - unit_cost, 2)) STORED
);

CREATE TABLE product_variants (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  sku TEXT NOT NULL UNIQUE,
  size TEXT,
  color TEXT,
  price_delta REAL NOT NULL DEFAULT 0,
  UNIQUE (product_id, size, color)
);

CREATE TABLE tags (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE product_tags (
  product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  PRIMARY KEY (product_id, tag_id)
);

CREATE TABLE price_history (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  unit_price REAL NOT NULL CHECK (unit_price > 0),
  valid_from TEXT NOT NULL,
  valid_to TEXT,
  CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- Inventory and purchasing ----------------------------------------------------

CREATE TABLE inventory (
  warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
  product_id INTEGER NOT NULL REFERENCES products (id),
  quantity_on_hand INTEGER NOT NULL DEFAULT 0 CHECK (quantity_on_hand >= 0),
  reorder_level INTEGER NOT NULL DEFAULT 10 CHECK (reorder_level >= 0),
  last_counted_on TEXT,
  PRIMARY KEY (warehouse_id, product_id)
);

CREATE TABLE stock_movements (
  id INTEGER PRIMARY KEY,
  warehouse_id INTEGER NOT NULL,
  product_id INTEGER NOT NULL,
  quantity_delta INTEGER NOT NULL CHECK (quantity_delta <> 0),
  reason TEXT NOT NULL CHECK (reason IN ('purchase', 'sale', 'return', 'adjustment', 'transfer')),
  moved_at TEXT NOT NULL,
  FOREIGN KEY (warehouse_id, product_id) REFERENCES inventory (warehouse_id, product_id)
);

CREATE TABLE purchase_orders (
  id INTEGER PRIMARY KEY,
  supplier_id INTEGER NOT NULL REFERENCES suppliers (id),
  warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
  ordered_by INTEGER REFERENCES employees (id),
  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'received', 'cancelled')),
  ordered_on TEXT NOT NULL,
  expected_on TEXT
);

CREATE TABLE purchase_order_items (
  purchase_order_id INTEGER NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL CHECK (line_no > 0),
  product_id INTEGER NOT NULL REFERENCES products (id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_cost REAL NOT NULL CHECK (unit_cost > 0),
  PRIMARY KEY (purchase_order_id, line_no)
);

-- Sales -----------------------------------------------------------------------

CREATE TABLE promotions (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL,
  discount_percent INTEGER NOT NULL CHECK (discount_percent BETWEEN 1 AND 90),
  starts_on TEXT NOT NULL,
  ends_on TEXT NOT NULL,
  CHECK (ends_on > starts_on)
);

CREATE TABLE promotion_products (
  promotion_id INTEGER NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
  product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  PRIMARY KEY (promotion_id, product_id)
);

CREATE TABLE carts (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE cart_items (
  cart_id INTEGER NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
  product_id INTEGER NOT NULL REFERENCES products (id),
  quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0),
  PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id),
  store_id INTEGER REFERENCES stores (id),
  billing_address_id INTEGER NOT NULL REFERENCES addresses (id),
  shipping_address_id INTEGER REFERENCES addresses (id),
  promotion_id INTEGER REFERENCES promotions (id) ON DELETE SET NULL,
  channel TEXT NOT NULL DEFAULT 'web' CHECK (channel IN ('web', 'app', 'store', 'phone')),
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  currency TEXT NOT NULL DEFAULT 'EUR',
  ordered_at TEXT NOT NULL,
  order_day TEXT GENERATED ALWAYS AS (substr(ordered_at, 1, 10)) STORED
);

CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL CHECK (line_no > 0),
  product_id INTEGER NOT NULL REFERENCES products (id),
  variant_id INTEGER REFERENCES product_variants (id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price REAL NOT NULL CHECK (unit_price > 0),
  discount REAL NOT NULL DEFAULT 0 CHECK (discount >= 0),
  line_total REAL GENERATED ALWAYS AS (round(quantity * unit_price - discount, 2)) VIRTUAL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_status_history (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  changed_by INTEGER REFERENCES employees (id)
);

CREATE TABLE carriers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  tracking_url_template TEXT NOT NULL
);

CREATE TABLE shipments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders (id),
  warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
  carrier_id INTEGER NOT NULL REFERENCES carriers (id),
  tracking_number TEXT NOT NULL UNIQUE,
  shipped_at TEXT NOT NULL,
  delivered_at TEXT,
  CHECK (delivered_at IS NULL OR delivered_at >= shipped_at)
);

CREATE TABLE shipment_items (
  shipment_id INTEGER NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
  order_id INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (shipment_id, order_id, line_no),
  FOREIGN KEY (order_id, line_no) REFERENCES order_items (order_id, line_no)
);

CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders (id),
  payment_method_id INTEGER REFERENCES payment_methods (id) ON DELETE SET NULL,
  amount REAL NOT NULL CHECK (amount > 0),
  status TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'failed', 'refunded')),
  paid_at TEXT NOT NULL
);

CREATE TABLE refunds (
  id INTEGER PRIMARY KEY,
  payment_id INTEGER NOT NULL REFERENCES payments (id),
  amount REAL NOT NULL CHECK (amount > 0),
  reason TEXT NOT NULL,
  refunded_at TEXT NOT NULL,
  approved_by INTEGER REFERENCES employees (id)
);

CREATE TABLE returns (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  reason TEXT NOT NULL CHECK (reason IN ('damaged', 'wrong_item', 'not_as_described', 'changed_mind')),
  received_at TEXT NOT NULL,
  refund_id INTEGER REFERENCES refunds (id),
  FOREIGN KEY (order_id, line_no) REFERENCES order_items (order_id, line_no)
);

CREATE TABLE reviews (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title TEXT NOT NULL,
  body TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (product_id, customer_id)
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  table_name TEXT NOT NULL,
  row_id INTEGER NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
  actor_employee_id INTEGER REFERENCES employees (id),
  logged_at TEXT NOT NULL
);

-- Indexes -----------------------------------------------------------------------

CREATE INDEX employees_department ON employees (department_id);
CREATE INDEX employees_manager ON employees (manager_id);
CREATE UNIQUE INDEX customers_email_ci ON customers (lower(email));
CREATE INDEX customers_name ON customers (last_name, first_name);
CREATE INDEX addresses_customer ON addresses (customer_id, kind);
CREATE UNIQUE INDEX addresses_one_default ON addresses (customer_id, kind) WHERE is_default = 1;
CREATE INDEX products_category ON products (category_id);
CREATE INDEX products_supplier ON products (supplier_id);
CREATE INDEX products_active_price ON products (unit_price) WHERE is_active = 1;
CREATE INDEX price_history_product ON price_history (product_id, valid_from);
CREATE INDEX inventory_low_stock ON inventory (product_id) WHERE quantity_on_hand <= reorder_level;
CREATE INDEX stock_movements_product ON stock_movements (product_id, moved_at);
CREATE INDEX orders_customer ON orders (customer_id, ordered_at);
CREATE INDEX orders_open ON orders (ordered_at) WHERE status IN ('pending', 'paid');
CREATE INDEX orders_day ON orders (order_day);
CREATE INDEX order_items_product ON order_items (product_id);
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX reviews_product_rating ON reviews (product_id, rating DESC);
CREATE INDEX audit_log_row ON audit_log (table_name, row_id);

-- Views -------------------------------------------------------------------------

CREATE VIEW customer_lifetime_value AS
SELECT c.id AS customer_id, c.email, c.full_name,
       count(DISTINCT o.id) AS order_count,
       coalesce(sum(oi.line_total), 0) AS lifetime_value,
       min(o.ordered_at) AS first_order_at,
       max(o.ordered_at) AS last_order_at
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id AND o.status NOT IN ('cancelled', 'refunded')
LEFT JOIN order_items oi ON oi.order_id = o.id
GROUP BY c.id;

CREATE VIEW daily_sales AS
SELECT o.order_day AS day, o.channel,
       count(DISTINCT o.id) AS orders,
       sum(oi.quantity) AS units,
       round(sum(oi.line_total), 2) AS revenue
FROM orders o JOIN order_items oi ON oi.order_id = o.id
WHERE o.status NOT IN ('cancelled', 'refunded')
GROUP BY o.order_day, o.channel;

CREATE VIEW product_stock_status AS
SELECT p.id AS product_id, p.sku, p.name,
       sum(i.quantity_on_hand) AS on_hand,
       sum(CASE WHEN i.quantity_on_hand <= i.reorder_level THEN 1 ELSE 0 END) AS warehouses_below_reorder
FROM products p LEFT JOIN inventory i ON i.product_id = p.id
GROUP BY p.id;

CREATE VIEW top_products AS
SELECT p.id AS product_id, p.name, cat.name AS category,
       sum(oi.quantity) AS units_sold, round(sum(oi.line_total), 2) AS revenue,
       (SELECT round(avg(r.rating), 2) FROM reviews r WHERE r.product_id = p.id) AS avg_rating
FROM products p
JOIN categories cat ON cat.id = p.category_id
JOIN order_items oi ON oi.product_id = p.id
GROUP BY p.id
ORDER BY revenue DESC
LIMIT 20;

CREATE VIEW open_orders AS
SELECT o.id AS order_id, o.ordered_at, o.status, c.email,
       a.city AS ship_to_city, a.country_code AS ship_to_country
FROM orders o
JOIN customers c ON c.id = o.customer_id
LEFT JOIN addresses a ON a.id = o.shipping_address_id
WHERE o.status IN ('pending', 'paid');

CREATE VIEW supplier_performance AS
SELECT s.id AS supplier_id, s.name,
       count(DISTINCT po.id) AS purchase_orders,
       sum(CASE WHEN po.status = 'received' THEN 1 ELSE 0 END) AS received,
       round(avg(julianday(po.expected_on) - julianday(po.ordered_on)), 1) AS avg_expected_days
FROM suppliers s LEFT JOIN purchase_orders po ON po.supplier_id = s.id
GROUP BY s.id;

CREATE VIEW employee_directory AS
SELECT e.id, e.full_name, e.email, e.job_title, d.name AS department, m.full_name AS manager
FROM employees e
JOIN departments d ON d.id = e.department_id
LEFT JOIN employees m ON m.id = e.manager_id
WHERE e.is_active = 1;
