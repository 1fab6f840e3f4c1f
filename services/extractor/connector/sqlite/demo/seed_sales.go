package demo

import (
	"fmt"
	"time"
)

// orderStatuses are weighted by how often they occur.
var orderStatuses = []string{"delivered", "delivered", "delivered", "delivered", "delivered", "shipped", "shipped",
	"paid", "pending", "cancelled", "refunded"}

// statusPath is what an order went through to reach its status.
var statusPath = map[string][]string{
	"pending":   {"pending"},
	"paid":      {"pending", "paid"},
	"shipped":   {"pending", "paid", "shipped"},
	"delivered": {"pending", "paid", "shipped", "delivered"},
	"cancelled": {"pending", "cancelled"},
	"refunded":  {"pending", "paid", "shipped", "delivered", "refunded"},
}

type orderLine struct{ lineNo, qty int }

func seedSales(l *loader, w *world) {
	promotions := l.into("promotions", "id, code, description, discount_percent, starts_on, ends_on")
	promoProducts := l.into("promotion_products", "promotion_id, product_id")
	for i, p := range []struct {
		code, desc string
		pct        int
	}{{"WINTER10", "Winter warm-up", 10}, {"SPRING15", "Spring refresh", 15}, {"OUTDOOR20", "Outdoor season", 20},
		{"TECH5", "Gadget week", 5}, {"HOME25", "Home makeover", 25}, {"VIP30", "VIP early access", 30}} {
		start := i * 30
		promotions.row(i+1, p.code, p.desc, p.pct, day(start), day(start+l.intn(10, 45)))
		w.promotions = append(w.promotions, p.pct)
		first := l.intn(0, len(w.products)-1)
		for k, n := 0, l.intn(3, 5); k < n; k++ {
			promoProducts.row(i+1, w.products[(first+k*9)%len(w.products)].id)
		}
	}
	carts := l.into("carts", "id, customer_id, created_at, updated_at")
	cartItems := l.into("cart_items", "cart_id, product_id, quantity")
	for id := 1; id <= 25; id++ {
		created := epoch.AddDate(0, 0, l.intn(150, 179)).Add(minutes(l))
		carts.row(id, pick(l, w.customers).id, at(created), at(created.Add(time.Duration(l.intn(1, 300))*time.Minute)))
		first := l.intn(0, len(w.products)-1)
		for k, n := 0, l.intn(1, 3); k < n; k++ {
			cartItems.row(id, w.products[(first+k*11)%len(w.products)].id, l.intn(1, 3))
		}
	}
	carriers := l.into("carriers", "id, name, tracking_url_template")
	for i, c := range [][2]string{{"DHL", "https://www.dhl.example/track?id={tracking}"}, {"UPS", "https://www.ups.example/track/{tracking}"},
		{"PostNL", "https://postnl.example/t/{tracking}"}, {"Correos", "https://correos.example/seguimiento/{tracking}"}} {
		carriers.row(i+1, c[0], c[1])
	}
	seedOrders(l, w)
	seedReviews(l, w)
}

func seedOrders(l *loader, w *world) {
	orders := l.into("orders", "id, customer_id, store_id, billing_address_id, shipping_address_id, promotion_id, channel, status, currency, ordered_at")
	items := l.into("order_items", "order_id, line_no, product_id, variant_id, quantity, unit_price, discount")
	history := l.into("order_status_history", "order_id, status, changed_at, changed_by")
	shipments := l.into("shipments", "id, order_id, warehouse_id, carrier_id, tracking_number, shipped_at, delivered_at")
	shipmentItems := l.into("shipment_items", "shipment_id, order_id, line_no, quantity")
	payments := l.into("payments", "id, order_id, payment_method_id, amount, status, paid_at")
	refunds := l.into("refunds", "id, payment_id, amount, reason, refunded_at, approved_by")
	returns := l.into("returns", "order_id, line_no, quantity, reason, received_at, refund_id")
	support := w.employeesByDep[4]
	var shipmentID, paymentID, refundID int

	for id := 1; id <= 120; id++ {
		c := pick(l, w.customers)
		status := pick(l, orderStatuses)
		channel := pick(l, []string{"web", "web", "web", "app", "app", "store", "phone"})
		var store, shipping any = nil, c.shipping
		if channel == "store" {
			store, shipping = l.intn(1, 6), nil
		}
		var promo any
		pct := 0
		if l.chance(0.15) {
			p := l.intn(1, len(w.promotions))
			promo, pct = p, w.promotions[p-1]
		}
		ordered := epoch.AddDate(0, 0, l.intn(0, 179)).Add(minutes(l))
		orders.row(id, c.id, store, c.billing, shipping, promo, channel, status, "EUR", at(ordered))

		var lines []orderLine
		total := 0.0
		first := l.intn(0, len(w.products)-1)
		for line, n := 1, l.intn(1, 4); line <= n; line++ {
			p := w.products[(first+line*13)%len(w.products)]
			var variant any
			if len(p.variants) > 0 {
				variant = pick(l, p.variants)
			}
			qty := l.intn(1, 3)
			discount := money(p.price * float64(qty*pct) / 100)
			items.row(id, line, p.id, variant, qty, p.price, discount)
			lines = append(lines, orderLine{line, qty})
			total += money(float64(qty)*p.price - discount)
		}
		total = money(total)

		when := ordered
		for i, s := range statusPath[status] {
			var by any
			if i > 0 && l.chance(0.4) {
				by = pick(l, support)
			}
			history.row(id, s, at(when), by)
			when = when.Add(time.Duration(l.intn(2, 60)) * time.Hour)
		}

		if status != "pending" && status != "cancelled" {
			if l.chance(0.1) { // a declined first attempt
				paymentID++
				payments.row(paymentID, id, pick(l, c.payMethods), total, "failed", at(ordered.Add(time.Minute)))
			}
			paymentID++
			payStatus := "captured"
			if status == "refunded" {
				payStatus = "refunded"
			}
			payments.row(paymentID, id, pick(l, c.payMethods), total, payStatus, at(ordered.Add(2*time.Minute)))
		} else if status == "pending" && l.chance(0.5) {
			paymentID++
			payments.row(paymentID, id, pick(l, c.payMethods), total, "authorized", at(ordered.Add(2*time.Minute)))
		}

		if status == "shipped" || status == "delivered" || status == "refunded" {
			shipped := ordered.Add(time.Duration(l.intn(12, 72)) * time.Hour)
			var delivered any
			if status != "shipped" {
				delivered = at(shipped.Add(time.Duration(l.intn(24, 120)) * time.Hour))
			}
			// Orders with several lines sometimes ship in two parcels.
			parcels := 1
			if len(lines) > 1 && l.chance(0.25) {
				parcels = 2
			}
			for p := 0; p < parcels; p++ {
				shipmentID++
				shipments.row(shipmentID, id, l.intn(1, 4), l.intn(1, 4), fmt.Sprintf("TRK%09d", 100000000+shipmentID*7919), at(shipped), delivered)
				for i, ln := range lines {
					if i%parcels == p {
						shipmentItems.row(shipmentID, id, ln.lineNo, ln.qty)
					}
				}
			}
		}

		switch {
		case status == "refunded":
			refundID++
			reason := pick(l, []string{"damaged", "wrong_item", "not_as_described", "changed_mind"})
			returned := when.Add(48 * time.Hour)
			refunds.row(refundID, paymentID, total, "customer return: "+reason, at(returned.Add(24*time.Hour)), pick(l, support))
			for _, ln := range lines {
				returns.row(id, ln.lineNo, ln.qty, reason, at(returned), refundID)
			}
		case status == "delivered" && l.chance(0.08): // returned, refund still pending
			returns.row(id, lines[0].lineNo, 1, "changed_mind", at(when.Add(72*time.Hour)), nil)
		}
	}

	audit := l.into("audit_log", "table_name, row_id, action, actor_employee_id, logged_at")
	for i := 0; i < 60; i++ {
		table := pick(l, []string{"orders", "customers", "products", "inventory", "refunds", "promotions"})
		var actor any
		if l.chance(0.8) {
			actor = l.intn(1, 30)
		}
		audit.row(table, l.intn(1, 120), pick(l, []string{"insert", "update", "update", "update", "delete"}), actor,
			at(epoch.AddDate(0, 0, l.intn(0, 179)).Add(minutes(l))))
	}
}

func seedReviews(l *loader, w *world) {
	reviews := l.into("reviews", "product_id, customer_id, rating, title, body, created_at")
	titles := map[int][]string{
		1: {"Disappointed", "Broke after a week"}, 2: {"Not great", "Runs small"}, 3: {"Okay for the price", "Does the job"},
		4: {"Very good", "Happy with it"}, 5: {"Excellent!", "Best purchase this year", "Exactly as described"},
	}
	seen := map[[2]int]bool{}
	for len(seen) < 90 {
		p, c := pick(l, w.products).id, pick(l, w.customers).id
		if seen[[2]int{p, c}] {
			continue
		}
		seen[[2]int{p, c}] = true
		rating := pick(l, []int{1, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5})
		var body any
		if l.chance(0.6) {
			body = fmt.Sprintf("Rated %d of 5. %s", rating, pick(l, titles[rating]))
		}
		reviews.row(p, c, rating, pick(l, titles[rating]), body, at(epoch.AddDate(0, 0, l.intn(10, 179)).Add(minutes(l))))
	}
}
