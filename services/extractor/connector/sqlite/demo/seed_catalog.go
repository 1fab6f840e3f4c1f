package demo

import (
	"fmt"
	"strings"
)

type category struct {
	id, parent  int
	name        string
	nouns       []string
	minP, maxP  int // price range in EUR
	sized       bool
	weightGrams int
}

var categories = []category{
	{id: 1, name: "Clothing"}, {id: 2, name: "Electronics"}, {id: 3, name: "Home & Kitchen"}, {id: 4, name: "Sports & Outdoors"},
	{5, 1, "T-Shirts", []string{"Tee", "Crew Neck", "Polo"}, 15, 45, true, 200},
	{6, 1, "Jackets", []string{"Rain Jacket", "Down Jacket", "Fleece"}, 60, 260, true, 900},
	{7, 1, "Shoes", []string{"Runner", "Sneaker", "Hiking Boot"}, 50, 180, true, 800},
	{8, 2, "Headphones", []string{"Earbuds", "Over-Ear Headphones", "Headset"}, 25, 350, false, 250},
	{9, 2, "Phone Accessories", []string{"Charger", "Case", "Power Bank"}, 10, 80, false, 150},
	{10, 2, "Smart Home", []string{"Smart Plug", "Thermostat", "Doorbell Camera"}, 20, 250, false, 400},
	{11, 3, "Cookware", []string{"Frying Pan", "Stock Pot", "Dutch Oven"}, 25, 220, false, 2200},
	{12, 3, "Furniture", []string{"Side Table", "Desk Chair", "Bookshelf"}, 60, 480, false, 12000},
	{13, 4, "Camping", []string{"Tent", "Sleeping Bag", "Camp Stove"}, 30, 400, false, 2500},
	{14, 4, "Fitness", []string{"Yoga Mat", "Kettlebell", "Resistance Band"}, 10, 120, false, 1500},
}

var adjectives = []string{"Classic", "Urban", "Pro", "Essential", "Alpine", "Nordic", "Compact", "Premium"}

func seedCatalog(l *loader, w *world) {
	cats := l.into("categories", "id, parent_id, name, slug")
	for _, c := range categories {
		var parent any
		if c.parent != 0 {
			parent = c.parent
		}
		cats.row(c.id, parent, c.name, strings.ToLower(strings.NewReplacer(" & ", "-", " ", "-").Replace(c.name)))
	}
	brands := l.into("brands", "id, name, country_code")
	brandNames := [][2]string{{"Nordwind", "DE"}, {"Lumo", "SE"}, {"Kasa", "JP"}, {"Terraform", "US"}, {"Vela", "IT"},
		{"Hygge Home", "DK"}, {"Atelier Neuf", "FR"}, {"Polder", "NL"}, {"Sierra", "ES"}, {"Maple & Co", "CA"}}
	for i, b := range brandNames {
		brands.row(i+1, b[0], b[1])
	}
	suppliers := l.into("suppliers", "id, name, contact_email, country_code, lead_time_days, rating")
	supplierNames := [][2]string{{"Rhein Textil GmbH", "DE"}, {"Shenzhen Audio Ltd", "JP"}, {"Polder Logistics BV", "NL"},
		{"Iberia Outdoor SA", "ES"}, {"Lombardia Casa Srl", "IT"}, {"Great Lakes Supply Inc", "US"},
		{"Svea Components AB", "SE"}, {"Alpen Sport GmbH", "AT"}}
	for i, s := range supplierNames {
		slug := strings.ToLower(strings.Fields(s[0])[0])
		suppliers.row(i+1, s[0], "orders@"+slug+".example", s[1], l.intn(3, 45), float64(l.intn(30, 50))/10)
	}

	products := l.into("products", "id, sku, name, category_id, brand_id, supplier_id, unit_price, unit_cost, weight_grams, is_active")
	variants := l.into("product_variants", "id, product_id, sku, size, color, price_delta")
	history := l.into("price_history", "product_id, unit_price, valid_from, valid_to")
	nextVariant := 0
	for _, c := range categories[4:] {
		for k := 0; k < 5; k++ {
			p := product{id: len(w.products) + 1, supplier: l.intn(1, len(supplierNames))}
			p.price = money(float64(l.intn(c.minP, c.maxP)) - 0.01)
			cost := money(p.price * (0.35 + 0.3*l.rng.Float64()))
			var brand any
			if l.chance(0.85) {
				brand = l.intn(1, len(brandNames))
			}
			name := fmt.Sprintf("%s %s", pick(l, adjectives), c.nouns[k%len(c.nouns)])
			if k >= len(c.nouns) {
				name += " " + []string{"II", "Plus", "Lite"}[k%3]
			}
			sku := fmt.Sprintf("SKU-%04d", 1000+p.id)
			products.row(p.id, sku, name, c.id, brand, p.supplier, p.price, cost,
				c.weightGrams/2+l.intn(0, c.weightGrams), boolInt(l.chance(0.92)))
			if c.sized {
				for _, size := range []string{"S", "M", "L"} {
					for _, color := range []string{"black", "navy"}[:l.intn(1, 2)] {
						nextVariant++
						variants.row(nextVariant, p.id, fmt.Sprintf("%s-%s-%s", sku, size, strings.ToUpper(color[:3])), size, color, 0.0)
						p.variants = append(p.variants, nextVariant)
					}
				}
			}
			if l.chance(0.6) {
				history.row(p.id, money(p.price*1.1), day(-240), day(-30))
				history.row(p.id, p.price, day(-30), nil)
			} else {
				history.row(p.id, p.price, day(-400), nil)
			}
			w.products = append(w.products, p)
		}
	}
	tags := l.into("tags", "id, name")
	tagNames := []string{"bestseller", "new", "eco", "gift-idea", "limited", "outdoor", "waterproof", "wireless", "vegan",
		"made-in-eu", "clearance", "premium"}
	for i, t := range tagNames {
		tags.row(i+1, t)
	}
	productTags := l.into("product_tags", "product_id, tag_id")
	for _, p := range w.products {
		first := l.intn(1, len(tagNames))
		for k, n := 0, l.intn(1, 3); k < n; k++ {
			productTags.row(p.id, (first+k*5-1)%len(tagNames)+1)
		}
	}
}

func seedInventory(l *loader, w *world) {
	inventory := l.into("inventory", "warehouse_id, product_id, quantity_on_hand, reorder_level, last_counted_on")
	for _, p := range w.products {
		first := l.intn(1, 4)
		for k, n := 0, l.intn(2, 3); k < n; k++ {
			wh := (first+k-1)%4 + 1
			inventory.row(wh, p.id, l.intn(0, 300), 5*l.intn(2, 8), day(l.intn(-60, 170)))
			w.inventory = append(w.inventory, [2]int{wh, p.id})
		}
	}
	moves := l.into("stock_movements", "warehouse_id, product_id, quantity_delta, reason, moved_at")
	for i := 0; i < 150; i++ {
		pair := pick(l, w.inventory)
		reason := pick(l, []string{"purchase", "sale", "sale", "sale", "return", "adjustment", "transfer"})
		delta := l.intn(1, 40)
		if reason == "sale" || (reason != "purchase" && reason != "return" && l.chance(0.5)) {
			delta = -delta
		}
		moves.row(pair[0], pair[1], delta, reason, at(epoch.AddDate(0, 0, l.intn(0, 179)).Add(minutes(l))))
	}
	orders := l.into("purchase_orders", "id, supplier_id, warehouse_id, ordered_by, status, ordered_on, expected_on")
	items := l.into("purchase_order_items", "purchase_order_id, line_no, product_id, quantity, unit_cost")
	for id := 1; id <= 20; id++ {
		ordered := l.intn(0, 170)
		status := pick(l, []string{"draft", "sent", "sent", "received", "received", "received", "cancelled"})
		orders.row(id, l.intn(1, 8), l.intn(1, 4), pick(l, w.employeesByDep[3]), status, day(ordered), day(ordered+l.intn(5, 40)))
		first := l.intn(0, len(w.products)-1)
		for line, n := 1, l.intn(1, 4); line <= n; line++ {
			p := w.products[(first+line*7)%len(w.products)]
			items.row(id, line, p.id, 10*l.intn(1, 20), money(p.price*0.5))
		}
	}
}
