package demo

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// world remembers what later sections refer to: generated ids and the
// few facts (a customer's addresses, a product's price) rows must agree on.
type world struct {
	customers      []customer
	employeesByDep map[int][]int
	products       []product
	inventory      [][2]int // warehouse, product pairs
	promotions     []int    // discount percent by promotion id-1
	nextAddress    int
	nextPayMethod  int
}

type customer struct {
	id, billing, shipping int
	payMethods            []int
	active                bool
}

type product struct {
	id       int
	price    float64
	variants []int
	supplier int
}

func seed(ctx context.Context, tx *sql.Tx) error {
	l := newLoader(ctx, tx)
	w := &world{employeesByDep: map[int][]int{}}
	seedGeography(l)
	seedOrganisation(l, w)
	seedCustomers(l, w)
	seedCatalog(l, w)
	seedInventory(l, w)
	seedSales(l, w)
	return l.done()
}

var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin", "Lars",
		"Mia", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Umut", "Vera", "Wim", "Yara", "Zoe", "Marco", "Lucía", "Kenji"}
	lastNames = []string{"Müller", "Schmidt", "Dubois", "Jansen", "Rossi", "García", "Andersson", "Nielsen", "Huber", "Peeters",
		"Smith", "Tanaka", "Novak", "Keller", "Moreau", "de Vries", "Bianchi", "López", "Berg", "Lindqvist"}
	cities = map[string][]string{
		"DE": {"Berlin", "Hamburg", "Munich", "Cologne"}, "FR": {"Paris", "Lyon"}, "NL": {"Amsterdam", "Rotterdam", "Utrecht"},
		"BE": {"Brussels", "Antwerp"}, "AT": {"Vienna", "Graz"}, "SE": {"Stockholm"}, "DK": {"Copenhagen"},
		"ES": {"Madrid", "Barcelona"}, "IT": {"Milan", "Rome"}, "US": {"New York", "Chicago"}, "CA": {"Toronto"}, "JP": {"Tokyo"},
	}
	// customerCountries weights where customers live (EU-heavy retailer).
	customerCountries = []string{"DE", "DE", "DE", "NL", "NL", "FR", "FR", "BE", "AT", "ES", "IT", "SE", "DK", "US", "CA", "JP"}
	streets           = []string{"Hauptstraße", "Market Street", "Rue de la Paix", "Keizersgracht", "Via Roma", "Calle Mayor", "Storgatan", "Elm Street"}
)

func seedGeography(l *loader) {
	regions := l.into("regions", "id, name")
	for i, name := range []string{"Western Europe", "Northern Europe", "Southern Europe", "North America", "Asia Pacific"} {
		regions.row(i+1, name)
	}
	countries := l.into("countries", "code, name, region_id, currency")
	for _, c := range []struct {
		code, name string
		region     int
		currency   string
	}{
		{"AT", "Austria", 1, "EUR"}, {"BE", "Belgium", 1, "EUR"}, {"CA", "Canada", 4, "CAD"}, {"DE", "Germany", 1, "EUR"},
		{"DK", "Denmark", 2, "DKK"}, {"ES", "Spain", 3, "EUR"}, {"FR", "France", 1, "EUR"}, {"IT", "Italy", 3, "EUR"},
		{"JP", "Japan", 5, "JPY"}, {"NL", "Netherlands", 1, "EUR"}, {"SE", "Sweden", 2, "SEK"}, {"US", "United States", 4, "USD"},
	} {
		countries.row(c.code, c.name, c.region, c.currency)
	}
	rates := l.into("exchange_rates", "currency, day, rate_to_eur")
	for _, c := range []struct {
		currency string
		base     float64
	}{{"CAD", 0.68}, {"DKK", 0.134}, {"JPY", 0.0062}, {"SEK", 0.087}, {"USD", 0.92}} {
		for d := 0; d < 14; d++ {
			rates.row(c.currency, day(d*7), c.base*(0.98+0.04*l.rng.Float64()))
		}
	}
}

func seedOrganisation(l *loader, w *world) {
	departments := l.into("departments", "id, name, parent_department_id, cost_center")
	deps := []string{"Executive", "Operations", "Logistics", "Customer Service", "Merchandising", "Finance", "Marketing", "Engineering"}
	titles := []string{"Chief Executive", "Operations Analyst", "Warehouse Coordinator", "Support Agent", "Buyer", "Accountant",
		"Campaign Manager", "Software Engineer"}
	for i, name := range deps {
		var parent any
		switch {
		case i == 0:
			parent = nil
		case name == "Logistics" || name == "Customer Service":
			parent = 2
		default:
			parent = 1
		}
		departments.row(i+1, name, parent, fmt.Sprintf("CC-%d", 100+10*i))
	}
	employees := l.into("employees", "id, department_id, manager_id, first_name, last_name, email, job_title, hired_on, salary_eur, is_active")
	for id := 1; id <= 30; id++ {
		dep, manager := 1, any(nil)
		switch {
		case id <= len(deps): // employee d heads department d
			dep = id
			if id > 1 {
				manager = 1
			}
		default:
			dep = 2 + id%(len(deps)-1)
			manager = dep
		}
		first, last := pick(l, firstNames), pick(l, lastNames)
		title := titles[dep-1]
		if id <= len(deps) && id > 1 {
			title = "Head of " + deps[dep-1]
		}
		employees.row(id, dep, manager, first, last, emailOf(first, last, id, "demo-retail.example"), title,
			day(-l.intn(60, 2400)), 1000*l.intn(38, 95), boolInt(id%13 != 0))
		w.employeesByDep[dep] = append(w.employeesByDep[dep], id)
	}
	warehouses := l.into("warehouses", "id, code, name, city, country_code, manager_id, capacity_units")
	for i, wh := range []struct{ code, name, city, country string }{
		{"WH-BER", "Berlin Hub", "Berlin", "DE"}, {"WH-RTM", "Rotterdam Port", "Rotterdam", "NL"},
		{"WH-MAD", "Madrid South", "Madrid", "ES"}, {"WH-CHI", "Chicago Midwest", "Chicago", "US"},
	} {
		warehouses.row(i+1, wh.code, wh.name, wh.city, wh.country, pick(l, w.employeesByDep[3]), 5000*l.intn(4, 20))
	}
	stores := l.into("stores", "id, code, name, city, country_code, manager_id, opened_on")
	for i, st := range []struct{ name, city, country string }{
		{"Berlin Mitte", "Berlin", "DE"}, {"Hamburg Jungfernstieg", "Hamburg", "DE"}, {"Paris Marais", "Paris", "FR"},
		{"Amsterdam Centrum", "Amsterdam", "NL"}, {"Vienna Neubau", "Vienna", "AT"}, {"New York SoHo", "New York", "US"},
	} {
		stores.row(i+1, fmt.Sprintf("ST-%02d", i+1), st.name, st.city, st.country, pick(l, w.employeesByDep[2]), day(-l.intn(200, 3000)))
	}
}

func seedCustomers(l *loader, w *world) {
	customers := l.into("customers", "id, email, first_name, last_name, phone, status, marketing_opt_in, created_at")
	addresses := l.into("addresses", "id, customer_id, kind, line1, line2, city, postal_code, country_code, is_default")
	methods := l.into("payment_methods", "id, customer_id, kind, card_last4, expires_on, is_default")
	loyalty := l.into("loyalty_accounts", "customer_id, tier, points, joined_on")
	for id := 1; id <= 60; id++ {
		first, last := pick(l, firstNames), pick(l, lastNames)
		status := "active"
		switch r := l.rng.Float64(); {
		case r < 0.05:
			status = "suspended"
		case r < 0.10:
			status = "closed"
		}
		var phone any
		if l.chance(0.7) {
			phone = fmt.Sprintf("+49 30 %07d", l.intn(1000000, 9999999))
		}
		created := epoch.AddDate(0, 0, -l.intn(1, 700)).Add(minutes(l))
		customers.row(id, emailOf(first, last, id, "example.com"), first, last, phone, status, boolInt(l.chance(0.4)), at(created))

		c := customer{id: id, active: status == "active"}
		country := pick(l, customerCountries)
		city := pick(l, cities[country])
		addr := func(kind string, def bool) int {
			w.nextAddress++
			var line2 any
			if l.chance(0.25) {
				line2 = fmt.Sprintf("Apt %d", l.intn(1, 40))
			}
			addresses.row(w.nextAddress, id, kind, fmt.Sprintf("%s %d", pick(l, streets), l.intn(1, 180)), line2,
				city, fmt.Sprintf("%05d", l.intn(1000, 99999)), country, boolInt(def))
			return w.nextAddress
		}
		c.billing = addr("billing", true)
		c.shipping = addr("shipping", true)
		if l.chance(0.3) {
			addr("shipping", false)
		}
		for n := l.intn(1, 2); len(c.payMethods) < n; {
			w.nextPayMethod++
			kind := pick(l, []string{"card", "card", "paypal", "bank_transfer", "gift_card"})
			var last4, expires any
			if kind == "card" {
				last4, expires = fmt.Sprintf("%04d", l.intn(0, 9999)), day(l.intn(200, 1500))
			}
			methods.row(w.nextPayMethod, id, kind, last4, expires, boolInt(len(c.payMethods) == 0))
			c.payMethods = append(c.payMethods, w.nextPayMethod)
		}
		if l.chance(0.7) {
			points := l.intn(0, 12000)
			tier := "bronze"
			switch {
			case points > 9000:
				tier = "platinum"
			case points > 5000:
				tier = "gold"
			case points > 2000:
				tier = "silver"
			}
			loyalty.row(id, tier, points, at(created)[:10])
		}
		w.customers = append(w.customers, c)
	}
	segments := l.into("customer_segments", "id, name, description")
	for i, s := range [][2]string{{"VIP", "Top 5% by lifetime value"}, {"Bargain hunters", "Mostly buys on promotion"},
		{"New", "First order in the last 90 days"}, {"Lapsed", "No order in the last 180 days"}, {"B2B", "Business accounts"}} {
		segments.row(i+1, s[0], s[1])
	}
	members := l.into("customer_segment_members", "customer_id, segment_id, added_on")
	for _, c := range w.customers {
		first := l.intn(1, 5)
		for k, n := 0, l.intn(0, 2); k < n; k++ {
			members.row(c.id, (first+k-1)%5+1, day(-l.intn(0, 300)))
		}
	}
}

func emailOf(first, last string, id int, domain string) string {
	clean := func(s string) string {
		s = strings.ToLower(strings.NewReplacer(" ", "", "ü", "u", "í", "i", "ç", "c").Replace(s))
		return s
	}
	return fmt.Sprintf("%s.%s%d@%s", clean(first), clean(last), id, domain)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
