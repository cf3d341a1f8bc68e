package demo

// The food court the demo opens: Indonesian stalls, their menus in whole
// Rupiah, and the people who eat there.

type menuItem struct {
	Name  string
	Price int64 // Rupiah
	Drink bool
}

type stallSpec struct {
	Name       string
	Code       string
	Popularity int // relative share of orders
	Menu       []menuItem
}

var foodCourt = []stallSpec{
	{
		Name: "Warung Nasi Goreng", Code: "NG", Popularity: 5,
		Menu: []menuItem{
			{Name: "Nasi Goreng Spesial", Price: 25000},
			{Name: "Nasi Goreng Seafood", Price: 32000},
			{Name: "Mie Goreng", Price: 22000},
			{Name: "Kwetiau Goreng", Price: 24000},
			{Name: "Es Teh Manis", Price: 5000, Drink: true},
			{Name: "Es Jeruk", Price: 7000, Drink: true},
		},
	},
	{
		Name: "Sate Madura Cak Hasan", Code: "SM", Popularity: 4,
		Menu: []menuItem{
			{Name: "Sate Ayam (10 tusuk)", Price: 28000},
			{Name: "Sate Kambing (10 tusuk)", Price: 45000},
			{Name: "Sop Kambing", Price: 35000},
			{Name: "Lontong", Price: 5000},
			{Name: "Es Teh Manis", Price: 5000, Drink: true},
		},
	},
	{
		Name: "Bakso Pak Kumis", Code: "BK", Popularity: 4,
		Menu: []menuItem{
			{Name: "Bakso Urat", Price: 22000},
			{Name: "Bakso Telur", Price: 24000},
			{Name: "Mie Ayam", Price: 18000},
			{Name: "Mie Ayam Bakso", Price: 25000},
			{Name: "Es Teh Tawar", Price: 4000, Drink: true},
		},
	},
	{
		Name: "Ayam Geprek Mbak Rini", Code: "AG", Popularity: 4,
		Menu: []menuItem{
			{Name: "Ayam Geprek", Price: 20000},
			{Name: "Ayam Geprek Keju", Price: 26000},
			{Name: "Tahu Tempe Penyet", Price: 12000},
			{Name: "Nasi Putih", Price: 5000},
			{Name: "Es Teh Manis", Price: 5000, Drink: true},
		},
	},
	{
		Name: "Soto Betawi Bang Udin", Code: "SB", Popularity: 3,
		Menu: []menuItem{
			{Name: "Soto Betawi", Price: 30000},
			{Name: "Soto Ayam", Price: 22000},
			{Name: "Nasi Putih", Price: 5000},
			{Name: "Kerupuk", Price: 3000},
			{Name: "Es Kelapa Muda", Price: 15000, Drink: true},
		},
	},
	{
		Name: "Es Campur Bu Tini", Code: "EC", Popularity: 3,
		Menu: []menuItem{
			{Name: "Es Campur", Price: 18000, Drink: true},
			{Name: "Es Cendol", Price: 15000, Drink: true},
			{Name: "Es Teler", Price: 20000, Drink: true},
			{Name: "Es Doger", Price: 15000, Drink: true},
			{Name: "Pisang Goreng", Price: 12000},
		},
	},
}

var counterNames = []string{"Kasir 1", "Kasir 2"}

var customerNames = []string{
	"Budi Santoso", "Siti Rahayu", "Agus Setiawan", "Dewi Lestari", "Rina Wulandari",
	"Joko Susilo", "Sri Wahyuni", "Andi Pratama", "Fitri Handayani", "Hendra Gunawan",
	"Yusuf Hidayat", "Putu Ayu", "Made Wirawan", "Nyoman Sudarsana", "Wayan Arta",
	"Lina Marlina", "Bambang Riyadi", "Eko Prasetyo", "Maya Sari", "Rudi Hartono",
	"Indah Permata", "Dian Puspita", "Teguh Wibowo", "Ratna Sari", "Fajar Nugroho",
	"Ayu Kartika", "Rizky Ramadhan", "Nur Aisyah", "Bayu Saputra", "Wulan Dari",
	"Ikhsan Maulana", "Tika Amelia", "Galih Permana", "Sinta Dewi", "Arif Rahman",
	"Mega Utami", "Dimas Aditya", "Citra Kirana", "Hadi Purnomo", "Yuni Astuti",
	"Pak Slamet", "Bu Endang", "Mas Gilang", "Mbak Nining", "Kak Tasya",
}

var foodNotes = []string{"tidak pedas", "pedas level 3", "tanpa bawang", "sambal dipisah", "dibungkus", "tanpa sayur"}

var drinkNotes = []string{"es sedikit", "tanpa gula", "gula sedikit", "dibungkus"}

var cancelReasons = []string{
	"Stok habis",
	"Pelanggan batal pesan",
	"Salah input menu",
	"Pelanggan menunggu terlalu lama",
}

var refundReasons = []string{
	"Minuman tumpah",
	"Pesanan kurang satu item",
	"Salah menu yang disajikan",
	"Makanan sudah dingin",
}

var alertMessages = []struct {
	Severity, Message string
}{
	{"info", "Promo: Es Teh Manis beli 2 gratis 1 sampai pukul 14.00"},
	{"info", "Jam sibuk makan siang — mohon antre dengan tertib"},
	{"warning", "Pemadaman listrik area C pukul 15.00 selama 5 menit"},
	{"info", "Meja area B sedang dibersihkan"},
	{"warning", "Stok kembalian pecahan Rp 2.000 menipis di Kasir 1"},
}
