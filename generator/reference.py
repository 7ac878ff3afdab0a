"""Static reference data of the demo world: countries, industries, names, campaigns, products."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    name: str  # GA4 geo.country
    crm_spellings: tuple[str, ...]  # free text as typed in the CRM
    shop_currency: str
    deal_currency: str
    tld: str
    gov_suffix: str
    account_weight: float
    consumer_weight: float
    continent: str
    cities: tuple[tuple[str, str], ...]  # (city, state/region)
    tax_rate: float
    phone_prefix: str
    offset_minutes: int  # typical UTC offset used by survey-tool timestamps


COUNTRIES: tuple[Country, ...] = (
    Country("US", "United States", ("United States", "USA", "US"), "USD", "USD", ".com", ".gov",
            0.40, 0.40, "Americas",
            (("New York", "New York"), ("San Francisco", "California"), ("Austin", "Texas"),
             ("Chicago", "Illinois"), ("Boston", "Massachusetts"), ("Seattle", "Washington")),
            0.07, "+1", -300),
    Country("GB", "United Kingdom", ("United Kingdom", "UK"), "GBP", "GBP", ".co.uk", ".gov.uk",
            0.12, 0.15, "Europe",
            (("London", "England"), ("Manchester", "England"), ("Edinburgh", "Scotland")),
            0.20, "+44", 0),
    Country("DE", "Germany", ("Germany", "Deutschland"), "EUR", "EUR", ".de", ".bund.de",
            0.10, 0.10, "Europe", (("Berlin", ""), ("Munich", ""), ("Hamburg", "")),
            0.19, "+49", 60),
    Country("FR", "France", ("France",), "EUR", "EUR", ".fr", ".gouv.fr",
            0.07, 0.07, "Europe", (("Paris", ""), ("Lyon", "")), 0.20, "+33", 60),
    Country("IN", "India", ("India",), "INR", "USD", ".in", ".gov.in",
            0.08, 0.11, "Asia", (("Bengaluru", ""), ("Mumbai", ""), ("Delhi", "")),
            0.18, "+91", 330),
    Country("NL", "Netherlands", ("Netherlands",), "EUR", "EUR", ".nl", ".overheid.nl",
            0.04, 0.04, "Europe", (("Amsterdam", ""), ("Rotterdam", "")), 0.21, "+31", 60),
    Country("ES", "Spain", ("Spain",), "EUR", "EUR", ".es", ".gob.es",
            0.03, 0.04, "Europe", (("Madrid", ""), ("Barcelona", "")), 0.21, "+34", 60),
    Country("CA", "Canada", ("Canada",), "USD", "USD", ".ca", ".gc.ca",
            0.05, 0.04, "Americas", (("Toronto", ""), ("Vancouver", "")), 0.05, "+1", -300),
    Country("AU", "Australia", ("Australia",), "USD", "USD", ".com.au", ".gov.au",
            0.04, 0.03, "Oceania", (("Sydney", ""), ("Melbourne", "")), 0.10, "+61", 600),
    Country("SG", "Singapore", ("Singapore",), "USD", "USD", ".sg", ".gov.sg",
            0.02, 0.01, "Asia", (("Singapore", ""),), 0.08, "+65", 480),
    Country("BR", "Brazil", ("Brazil",), "USD", "USD", ".com.br", ".gov.br",
            0.02, 0.005, "Americas", (("São Paulo", ""),), 0.0, "+55", -180),
    Country("JP", "Japan", ("Japan",), "USD", "USD", ".jp", ".go.jp",
            0.03, 0.005, "Asia", (("Tokyo", ""), ("Osaka", "")), 0.10, "+81", 540),
)  # fmt: skip

# canonical industry, weight among companies, spellings as typed, conversion fit
INDUSTRIES: tuple[tuple[str, float, tuple[str, ...], float], ...] = (
    ("Technology", 0.22, ("Technology", "technolgy", "Tech", "TECHNOLOGY", "Software"), 1.25),
    ("Financial Services", 0.12, ("Financial Services", "finance"), 1.1),
    ("Healthcare", 0.10, ("Healthcare", "Health Care"), 1.0),
    ("Retail", 0.12, ("Retail",), 0.8),
    ("Manufacturing", 0.14, ("Manufacturing",), 0.9),
    ("Education", 0.05, ("Education",), 0.7),
    ("Media", 0.06, ("Media",), 0.8),
    ("Telecommunications", 0.05, ("Telecommunications",), 1.0),
    ("Professional Services", 0.09, ("Professional Services",), 1.0),
    ("Marketing", 0.05, ("Marketing",), 1.1),
)
GOV_INDUSTRIES: tuple[str, ...] = ("Government", "Public Sector", "Education")

COMPANY_WORDS_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Wonka", "Aperture", "Blue Sun", "Oscorp", "Pied Piper", "Nakatomi",
    "Gekko", "Monarch", "Sterling", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware",
    "Adatum", "Proseware", "Lucerne", "Wingtip", "Woodgrove", "Fourth Coffee", "Alpine",
    "Bluewave", "Cobalt", "Evergreen", "Granite", "Harbor", "Ironclad", "Juniper", "Keystone",
)  # fmt: skip
COMPANY_WORDS_B = (
    "Logistics", "Analytics", "Systems", "Foods", "Health", "Labs", "Capital", "Robotics",
    "Media", "Energy", "Software", "Retail", "Motors", "Consulting", "Pharma", "Networks",
    "Studios", "Textiles", "Security", "Biotech", "Insurance", "Logic", "Data", "Cloud",
    "Partners", "Holdings", "Industries", "Digital", "Ventures", "Solutions",
)  # fmt: skip
COMPANY_SUFFIX = {
    "US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "plc"), "DE": ("GmbH", "AG"),
    "FR": ("SAS", "SA"), "IN": ("Pvt Ltd",), "NL": ("B.V.",), "ES": ("S.L.",),
    "CA": ("Inc.",), "AU": ("Pty Ltd",), "SG": ("Pte Ltd",), "BR": ("Ltda",), "JP": ("K.K.",),
}  # fmt: skip
GOV_AGENCIES = (
    "Department of Transport", "Department of Health", "Ministry of Education",
    "Tax Authority", "Statistics Office", "Department of Energy", "Environment Agency",
    "Land Registry", "Public Libraries Service", "Digital Service", "Water Authority",
    "Procurement Office",
)  # fmt: skip

TECHNOLOGIES = (
    "google_analytics", "hubspot", "salesforce", "aws", "azure", "google_cloud", "shopify",
    "wordpress", "segment", "snowflake", "marketo", "zendesk", "intercom", "stripe", "slack",
    "jira", "tableau", "looker", "optimizely", "react",
)  # fmt: skip

FIRST_NAMES = (
    ("Emma", "F"), ("Olivia", "F"), ("Ava", "F"), ("Sophia", "F"), ("Mia", "F"), ("Lena", "F"),
    ("Chloé", "F"), ("Priya", "F"), ("Ananya", "F"), ("Yuki", "F"), ("Lucía", "F"),
    ("Hannah", "F"), ("Grace", "F"), ("Fatima", "F"), ("Sara", "F"), ("Julia", "F"),
    ("Noah", "M"), ("Liam", "M"), ("Lucas", "M"), ("Elijah", "M"), ("James", "M"),
    ("Oliver", "M"), ("Jonas", "M"), ("Hugo", "M"), ("Arjun", "M"), ("Rahul", "M"),
    ("Kenji", "M"), ("Mateo", "M"), ("Daniel", "M"), ("Samuel", "M"), ("Ben", "M"),
    ("Omar", "M"), ("Alex", "X"), ("Sam", "X"), ("Robin", "X"), ("Charlie", "X"),
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Müller",
    "Schmidt", "Schneider", "Martin", "Bernard", "Dubois", "Patel", "Sharma", "Singh", "Kumar",
    "Tanaka", "Suzuki", "Rossi", "Fernández", "López", "de Vries", "Jansen", "Wilson",
    "Taylor", "Anderson", "Thomas", "Moore", "Clark", "Lewis", "Walker", "Hall", "O'Brien",
    "Nguyen", "Kim", "Chen", "Silva", "Costa",
)  # fmt: skip
FREE_MAIL = {
    "US": ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com"),
    "GB": ("gmail.com", "hotmail.co.uk", "outlook.com", "btinternet.com"),
    "DE": ("gmx.de", "web.de", "gmail.com", "t-online.de"),
    "FR": ("orange.fr", "gmail.com", "free.fr"),
    "IN": ("gmail.com", "yahoo.co.in", "rediffmail.com"),
}  # fmt: skip
FREE_MAIL_DEFAULT = ("gmail.com", "outlook.com", "yahoo.com")
JOB_TITLES_B2B = (
    "Marketing Manager", "Head of Growth", "VP Sales", "CTO", "Data Engineer",
    "Operations Director", "Procurement Lead", "CFO", "Product Manager", "IT Manager",
    "CEO", "Analyst",
)  # fmt: skip
JOB_TITLES_GOV = ("Policy Officer", "Digital Lead", "Procurement Officer", "Director")
SALES_REPS = (
    "Dana Whitfield", "Marco Rinaldi", "Aisha Rahman", "Tom Becker", "Yara Haddad",
    "Leo Fontaine", "Nina Kowalski", "Raj Mehta", "Claire Dubois", "Ethan Brooks",
)  # fmt: skip


@dataclass(frozen=True)
class Campaign:
    platform: str  # google_ads, meta_ads, linkedin_ads, tiktok_ads
    campaign_id: str
    name: str
    campaign_type: str
    audience: str  # b2c or b2b: which conversions the campaign drives
    daily_clicks: float  # at scale 1, before seasonality
    ctr: float
    cpc: float  # in the account currency
    active_months: tuple[int, ...] = tuple(range(1, 13))
    start: str = "2023-01-01"
    status: str = "Enabled"


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("google_ads", "20145678901", "G - Brand - Search - US", "Search", "b2c", 16, 0.09, 0.85),
    Campaign("google_ads", "20145678902", "G - Generic - Search - EU", "Search", "b2b", 8, 0.045, 2.6),
    Campaign("google_ads", "20145678903", "G - Shopping - All Products", "Shopping", "b2c", 18, 0.012, 0.55),
    Campaign("google_ads", "20145678904", "G - PMax - Apparel", "Performance Max", "b2c", 12, 0.01, 0.48),
    Campaign("google_ads", "20145678905", "G - B2B - Demo Request", "Search", "b2b", 6, 0.035, 4.2),
    Campaign("meta_ads", "120200000000000011", "Meta | Prospecting | Lookalike EU", "Sales", "b2c", 14, 0.011, 0.52),
    Campaign("meta_ads", "120200000000000012", "Meta | Retargeting | Cart Abandoners", "Sales", "b2c", 7, 0.018, 0.38),
    Campaign("meta_ads", "120200000000000013", "Meta | Prospecting | Broad US", "Sales", "b2c", 12, 0.009, 0.47),
    Campaign("meta_ads", "120200000000000014", "IG | Reels | Summer Collection", "Awareness", "b2c", 15, 0.007, 0.41, (5, 6, 7, 8)),
    Campaign("meta_ads", "120200000000000015", "Meta | Lead Gen | Whitepaper", "Leads", "b2b", 4, 0.008, 1.9),
    Campaign("linkedin_ads", "312345671", "LI - ABM - Enterprise Tech", "Sponsored Content", "b2b", 3, 0.005, 7.8),
    Campaign("linkedin_ads", "312345672", "LI - Lead Gen Form - Webinar", "Sponsored Content", "b2b", 3, 0.006, 6.1),
    Campaign("linkedin_ads", "312345673", "LI - Sponsored Content - Product Demo", "Sponsored Content", "b2b", 4, 0.0055, 6.9),
    Campaign("linkedin_ads", "312345674", "LI - Retargeting - Website Visitors", "Sponsored Content", "b2b", 2, 0.008, 5.2),
    Campaign("linkedin_ads", "312345675", "LI - Public Sector - Awareness", "Text Ads", "b2b", 2, 0.004, 4.4, start="2023-06-01", status="Paused"),
    Campaign("tiktok_ads", "1760000000000000001", "TT_Spark_Ads_Apparel", "Conversions", "b2c", 12, 0.009, 0.35),
    Campaign("tiktok_ads", "1760000000000000002", "TT_Prospecting_GenZ", "Traffic", "b2c", 10, 0.008, 0.29),
    Campaign("tiktok_ads", "1760000000000000003", "TT_Retargeting_Viewers", "Conversions", "b2c", 5, 0.012, 0.33),
    Campaign("tiktok_ads", "1760000000000000004", "TT_Holiday_Sale", "Conversions", "b2c", 25, 0.01, 0.4, (11, 12)),
    Campaign("tiktok_ads", "1760000000000000005", "TT_App_Installs", "App Promotion", "b2c", 6, 0.006, 0.3, start="2024-03-01"),
)  # fmt: skip

PLATFORM_ACCOUNT = {
    "google_ads": ("123-456-7890", "Segmart Demo", "USD", "America/New_York"),
    "meta_ads": ("1029384756", "Segmart Demo", "EUR", "Europe/Berlin"),
    "linkedin_ads": ("508123456", "Segmart Demo Co", "GBP", "UTC"),
    "tiktok_ads": ("7012345678901234567", "Segmart Demo", "USD", "UTC"),
}

# utm spellings per platform: (source variants, weights), (medium variants, weights)
UTM_VARIANTS = {
    "google_ads": (("google", "Google", "adwords"), (0.8, 0.12, 0.08),
                   ("cpc", "ppc", "paid"), (0.8, 0.1, 0.1)),
    "meta_ads": (("facebook", "Facebook", "fb", "ig", "instagram"), (0.45, 0.15, 0.2, 0.12, 0.08),
                 ("paid_social", "paid", "cpc", "Paid Social"), (0.6, 0.15, 0.15, 0.1)),
    "linkedin_ads": (("linkedin", "LinkedIn", "li"), (0.7, 0.2, 0.1),
                     ("paid_social", "cpc", "sponsored"), (0.6, 0.25, 0.15)),
    "tiktok_ads": (("tiktok", "TikTok", "tt"), (0.7, 0.2, 0.1),
                   ("paid_social", "cpc"), (0.75, 0.25)),
}  # fmt: skip

# product catalogue: category, price range (USD), unit cost share of price, return rate
CATEGORIES: tuple[tuple[str, float, float, float, float, float], ...] = (
    # name, weight, min price, max price, cost share, return rate
    ("Apparel", 0.30, 15, 120, 0.40, 0.14),
    ("Footwear", 0.15, 40, 180, 0.45, 0.11),
    ("Accessories", 0.15, 8, 90, 0.30, 0.05),
    ("Home", 0.12, 12, 250, 0.50, 0.06),
    ("Beauty", 0.12, 6, 60, 0.25, 0.03),
    ("Electronics", 0.10, 30, 600, 0.70, 0.07),
    ("Software", 0.06, 9, 49, 0.10, 0.01),
)
VENDORS = ("Northwind Goods", "Alpine Wear", "Cobalt Home", "Lumen Beauty", "Voltis", "Segmart")
PRODUCT_WORDS = (
    "Classic", "Urban", "Trail", "Everyday", "Premium", "Essential", "Studio", "Coastal",
    "Nordic", "Vintage", "Active", "Cloud",
)  # fmt: skip
PRODUCT_NOUNS = {
    "Apparel": ("T-Shirt", "Hoodie", "Jacket", "Jeans", "Dress", "Sweater"),
    "Footwear": ("Sneaker", "Boot", "Sandal", "Loafer"),
    "Accessories": ("Cap", "Scarf", "Backpack", "Wallet", "Sunglasses"),
    "Home": ("Mug", "Throw Blanket", "Lamp", "Cushion", "Vase"),
    "Beauty": ("Face Cream", "Lip Balm", "Shampoo", "Serum"),
    "Electronics": ("Earbuds", "Speaker", "Smartwatch", "Charger"),
    "Software": ("Planner Pro (1 year)", "Photo Editor (1 year)", "Team Notes (1 year)"),
}  # fmt: skip

NPS_COMMENTS = {
    "promoter": (
        "Great product, fast delivery!", "Love it 😍", "Excellent service, will buy again.",
        'The "Premium" line is worth every penny', "Très bien, merci !",
        "Support team went above and beyond,\nthank you Dana!", "Super Qualität, gerne wieder.",
    ),
    "passive": (
        "Good, but shipping took a while.", "Fine overall", "Decent value, the app is clunky",
        "OK. Sizing runs small, though.",
    ),
    "detractor": (
        "Item arrived damaged; refund took 3 weeks.", "Too expensive for what it is.",
        "Onboarding was painful,\nand nobody answered my tickets.", "Nie wieder 😡",
        'They call it "fast shipping"?!',
    ),
}  # fmt: skip
