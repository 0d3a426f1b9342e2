"""Hand-written word lists for :mod:`llmforge.structure.entities`, English and Arabic.

Deliberately modest: the places a Gulf/MENA utility or government document is likely to name, the
cue words that introduce people and organisations, calendar names, currencies and units. Arabic
entries are written normally; the extractor folds them (alef, ya and ta-marbuta variants,
diacritics) before comparing, so one spelling per name is enough unless the words differ.
"""

from __future__ import annotations

# --- places ------------------------------------------------------------------------------------

EN_PLACES = (
    # Gulf and the Arab world
    "Saudi Arabia", "Kingdom of Saudi Arabia", "United Arab Emirates", "UAE", "Kuwait", "Qatar", "Bahrain",
    "Oman", "Yemen", "Jordan", "Iraq", "Syria", "Lebanon", "Palestine", "Egypt", "Sudan", "Libya", "Tunisia",
    "Algeria", "Morocco", "Mauritania", "Middle East", "Arabian Gulf", "Persian Gulf", "Red Sea", "Gulf of Aden",
    "Riyadh", "Jeddah", "Jiddah", "Mecca", "Makkah", "Medina", "Madinah", "Dammam", "Khobar", "Al Khobar",
    "Al-Khobar", "Dhahran", "Jubail", "Al Jubail", "Yanbu", "Tabuk", "Abha", "Taif", "Qassim", "Al-Qassim",
    "Al Ahsa", "Al-Ahsa", "Hail", "Najran", "Jazan", "Jizan", "NEOM", "Ras Tanura", "Khamis Mushait",
    "Eastern Province", "Western Province", "Northern Borders", "Dubai", "Abu Dhabi", "Sharjah", "Ajman",
    "Fujairah", "Ras Al Khaimah", "Al Ain", "Doha", "Manama", "Muscat", "Salalah", "Sohar", "Kuwait City",
    "Amman", "Aqaba", "Irbid", "Zarqa", "Baghdad", "Basra", "Erbil", "Mosul", "Damascus", "Aleppo", "Homs",
    "Beirut", "Tripoli", "Jerusalem", "Gaza", "Ramallah", "Cairo", "Alexandria", "Giza", "Aswan", "Luxor",
    "Port Said", "Suez", "Khartoum", "Benghazi", "Tunis", "Algiers", "Oran", "Rabat", "Casablanca", "Marrakesh",
    "Sanaa", "Aden",
    # elsewhere
    "Turkey", "Iran", "Pakistan", "India", "Bangladesh", "China", "Japan", "South Korea", "Indonesia",
    "Malaysia", "Singapore", "Philippines", "Australia", "New Zealand", "United States", "United States of America",
    "USA", "Canada", "Mexico", "Brazil", "Argentina", "United Kingdom", "Great Britain", "Britain", "England",
    "Scotland", "Wales", "Ireland", "France", "Germany", "Italy", "Spain", "Portugal", "Netherlands", "Belgium",
    "Switzerland", "Austria", "Sweden", "Norway", "Denmark", "Finland", "Poland", "Greece", "Russia", "Ukraine",
    "South Africa", "Nigeria", "Kenya", "Ethiopia", "Europe", "Asia", "Africa", "North America", "Istanbul",
    "Ankara", "Tehran", "Karachi", "Islamabad", "Lahore", "Delhi", "New Delhi", "Mumbai", "Beijing", "Shanghai",
    "Tokyo", "Seoul", "Jakarta", "Kuala Lumpur", "Manila", "Sydney", "London", "Manchester", "Paris", "Berlin",
    "Munich", "Frankfurt", "Geneva", "Zurich", "Vienna", "Brussels", "Amsterdam", "The Hague", "Madrid",
    "Barcelona", "Rome", "Milan", "Lisbon", "Athens", "Moscow", "Stockholm", "Oslo", "Copenhagen", "New York",
    "Washington", "Houston", "Chicago", "Los Angeles", "San Francisco", "Toronto", "Nairobi",
    "Lagos", "Johannesburg",
)

# A capitalised word after one of these heads is a place: "Kingdom of Bahrain", "City of London".
EN_PLACE_HEADS = frozenset({"Kingdom", "Republic", "State", "Sultanate", "Emirate", "City", "Province",
                            "Governorate", "Region", "Port"})
# A place name followed by one of these words keeps it: "Riyadh Region", "Mecca Province".
EN_PLACE_SUFFIXES = frozenset({"City", "Province", "Region", "Governorate", "Emirate", "District", "County",
                               "Municipality"})

AR_PLACES = (
    "السعودية", "المملكة العربية السعودية", "الإمارات", "الإمارات العربية المتحدة", "دولة الإمارات", "الكويت",
    "قطر", "البحرين", "عمان", "سلطنة عمان", "اليمن", "الأردن", "العراق", "سوريا", "سورية", "لبنان", "فلسطين",
    "مصر", "السودان", "ليبيا", "تونس", "الجزائر", "المغرب", "موريتانيا", "الشرق الأوسط", "الخليج العربي",
    "البحر الأحمر", "الرياض", "جدة", "مكة", "مكة المكرمة", "المدينة المنورة", "الدمام", "الظهران", "الجبيل",
    "تبوك", "أبها", "الطائف", "القصيم", "بريدة", "الأحساء", "الهفوف", "نجران", "جازان", "جيزان", "نيوم",
    "رأس تنورة", "خميس مشيط", "القطيف", "المنطقة الشرقية", "دبي", "أبوظبي", "أبو ظبي", "الشارقة", "عجمان",
    "الفجيرة", "رأس الخيمة", "الدوحة", "المنامة", "مسقط", "صلالة", "العقبة", "إربد", "بغداد", "البصرة", "أربيل",
    "الموصل", "دمشق", "حلب", "بيروت", "طرابلس", "القدس", "غزة", "رام الله", "القاهرة", "الإسكندرية", "الجيزة",
    "أسوان", "الأقصر", "بورسعيد", "السويس", "الخرطوم", "بنغازي", "الرباط", "الدار البيضاء", "مراكش", "صنعاء",
    "عدن", "تركيا", "إيران", "باكستان", "الهند", "الصين", "اليابان", "كوريا الجنوبية", "إندونيسيا", "ماليزيا",
    "سنغافورة", "أستراليا", "الولايات المتحدة", "الولايات المتحدة الأمريكية", "أمريكا", "كندا", "البرازيل",
    "المملكة المتحدة", "بريطانيا", "فرنسا", "ألمانيا", "إيطاليا", "إسبانيا", "هولندا", "بلجيكا", "سويسرا",
    "النمسا", "السويد", "النرويج", "روسيا", "أوكرانيا", "جنوب أفريقيا", "نيجيريا", "كينيا", "إثيوبيا",
    "أوروبا", "آسيا", "أفريقيا", "إفريقيا", "إسطنبول", "اسطنبول", "أنقرة", "طهران", "كراتشي", "إسلام آباد",
    "نيودلهي", "مومباي", "بكين", "شنغهاي", "طوكيو", "سيول", "جاكرتا", "لندن", "باريس", "برلين", "جنيف",
    "فيينا", "بروكسل", "مدريد", "روما", "موسكو", "نيويورك", "واشنطن", "تورنتو", "نيروبي",
)
# Also ordinary words ("the news", "barrier", "springs from", "the eye", "the blue", "chickpeas"):
# a place only right after مدينة / محافظة / منطقة / إمارة.
AR_PLACES_NEED_CUE = ("الخبر", "حائل", "ينبع", "العين", "الزرقاء", "حمص", "المدينة")
AR_PLACE_CUES = frozenset({"مدينة", "محافظة", "منطقة", "إمارة", "ولاية", "مدينتي", "بلدة", "قرية"})
# A place word right after one of these words is something else: نصف قطر is a radius.
AR_PLACE_VETOES = {"قطر": frozenset({"نصف"})}

# --- organisations -----------------------------------------------------------------------------

# "<Head> of|for <Capitalised ...>": Ministry of Energy, University of Jordan.
EN_ORG_HEADS = frozenset({
    "Ministry", "Department", "University", "Bank", "Authority", "Agency", "Office", "Council", "Commission",
    "Institute", "Board", "Chamber", "Court", "Federation", "Organization", "Organisation", "League", "Fund",
    "Bureau", "College", "Academy", "Society", "Association", "Union", "Corporation", "Directorate",
    "Secretariat", "Centre", "Center", "Foundation", "Company",
})
# "<Capitalised ...> <Suffix>": Saudi Electricity Company, Jordan Valley Authority.
EN_ORG_SUFFIXES = frozenset({
    "Company", "Corporation", "Authority", "Agency", "Bank", "University", "Institute", "Council", "Ministry",
    "Commission", "Foundation", "Association", "Department", "Organization", "Organisation", "Fund", "Bureau",
    "Hospital", "College", "Utilities", "Holdings", "Group", "Partners", "Consultants", "Industries",
    "Airlines", "Airways", "Municipality", "Directorate", "Federation", "Society", "Chamber", "Corp", "Co",
    "Inc", "Ltd", "Limited", "LLC", "PLC", "plc", "GmbH",
})
# Legal forms that may follow another suffix ("... Holdings PLC") and take an optional full stop.
EN_LEGAL_FORMS = frozenset({"Inc", "Ltd", "Limited", "LLC", "PLC", "plc", "Co", "Corp", "GmbH", "SA", "AG"})
# "Board of Directors" is a body of the organisation, not a named one.
EN_GENERIC_ORG_OBJECTS = frozenset({"Directors", "Trustees", "Governors", "Management", "Members",
                                    "Examiners", "Education", "Studies"})
EN_ORGS = ("Saudi Aramco", "Aramco", "SABIC", "World Bank", "United Nations", "European Union", "OPEC",
           "UNICEF", "UNESCO", "UNDP", "IMF", "NATO", "Red Crescent", "Red Cross")

AR_ORG_KEYWORDS = frozenset({
    "وزارة", "هيئة", "جامعة", "شركة", "مصرف", "بنك", "مجلس", "مؤسسة", "صندوق", "مركز", "معهد", "مستشفى",
    "كلية", "بلدية", "أمانة", "غرفة", "جمعية", "اتحاد", "منظمة", "محكمة", "ديوان", "صحيفة", "جريدة", "قناة",
    "نادي", "وكالة", "دائرة", "مديرية", "أكاديمية", "مدرسة", "مصلحة",
})
# "مجلس الإدارة" (the board of directors) is a body of an organisation, not a named one.
AR_GENERIC_ORG_OBJECTS = frozenset({"الإدارة", "الأمناء", "المديرين", "المساهمين", "الطلاب", "الأعضاء",
                                    "التدريس", "المحلفين"})
# Adjectives that make "the company"/"the authority" a name: الشركة السعودية، الهيئة العامة.
AR_ORG_NAME_ADJECTIVES = frozenset({
    "السعودية", "السعودي", "الوطنية", "الوطني", "العامة", "العام", "الأهلي", "الأهلية", "الدولي", "الدولية",
    "العربية", "العربي", "الإسلامي", "الإسلامية", "المركزي", "الخليجي", "الخليجية", "الأوروبي", "الملكية",
    "الملكي", "المتحدة", "العليا", "الأعلى", "الكبرى", "الإماراتية", "المصرية", "الأردنية", "الكويتية",
    "القطرية", "العمانية", "البحرينية", "العالمية", "الاتحادية", "التجاري", "الصناعي", "الزراعي",
})
# Words that end an organisation phrase however definite they look.
AR_ORG_STOP = frozenset({
    "المعنية", "المعني", "المختصة", "المختص", "المذكورة", "المذكور", "الجديدة", "الجديد", "المسؤولة",
    "المسؤول", "الحالية", "الحالي", "السابقة", "السابق", "الماضي", "الماضية", "المقبل", "المقبلة", "القادم",
    "التالي", "التالية", "نفسها", "نفسه", "ذاتها", "هذه", "هذا", "تلك", "ذلك", "المشار", "المتعاقدة",
    "المنفذة", "الأولى", "الأول", "الثاني", "الثانية", "الجاري", "الجارية",
})
# Generic nouns that, bare, describe a company rather than name one: شركة كبرى، شركة مساهمة.
AR_ORG_GENERIC = frozenset({
    "كبرى", "كبيرة", "صغيرة", "خاصة", "واحدة", "أخرى", "جديدة", "عامة", "حكومية", "محلية", "أجنبية", "عالمية",
    "وطنية", "ناشئة", "مساهمة", "تابعة", "متخصصة", "رائدة", "مقاولات", "استشارية", "عدة", "كل", "أي",
})

# --- people ------------------------------------------------------------------------------------

EN_TITLES = frozenset({"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Eng", "Engr", "Sheikh",
                       "Shaikh", "Sheikha", "Sir", "Dame", "Lord", "Lady", "Judge", "Capt", "Col", "Gen", "Lt",
                       "Sgt", "HRH", "Mme", "Mlle", "Rev", "King", "Queen", "Prince", "Princess", "Emir"})
# Titles that are ordinary words too ("Eng" for English): a title only with a full stop.
EN_TITLES_NEED_DOT = frozenset({"Capt", "Col", "Gen", "Lt", "Sgt", "Eng"})
# A "name" that goes on into one of these is a road, a building, a river or a prize: King Fahd Road,
# James River.
EN_FACILITY_WORDS = frozenset({
    "Road", "Street", "Avenue", "Highway", "Airport", "Port", "Bridge", "Tower", "Mosque", "Park", "Square",
    "Causeway", "Complex", "Award", "Prize", "Stadium", "Center", "Centre", "City", "District", "Station",
    "Plant", "Project", "River", "Lake", "Sea", "Ocean", "Island", "Islands", "Mountain", "Mountains", "Bay",
    "Canal", "Desert", "Church", "Cathedral", "Museum", "Library", "School", "Hall", "Building", "Bible",
    "Treaty", "Act", "Cup", "Trophy", "Dam", "Field", "Gallery", "Theatre", "Theater", "Memorial",
})
# Capitalised words that start sentences or headings but never a name.
EN_STOP_CAPS = frozenset({
    "The", "A", "An", "This", "That", "These", "Those", "Its", "Our", "Their", "His", "Her", "My", "Your", "We",
    "They", "It", "He", "She", "I", "You", "In", "On", "At", "By", "For", "From", "To", "Of", "With", "As", "And",
    "But", "Or", "If", "When", "While", "After", "Before", "During", "Since", "Until", "Under", "Over", "All",
    "Any", "Each", "Every", "No", "Not", "Please", "Dear", "Yesterday", "Today", "Tomorrow", "Meanwhile",
    "However", "According", "Also", "Per", "Via", "Re", "Subject", "Note", "Total", "Page", "Table", "Figure",
    "Section", "Article", "Annex", "Appendix", "Tel", "Fax", "Email", "Web", "Phone", "Mobile", "Dated",
    "Date", "Ref", "Reference", "Invoice", "Account", "Amount", "Customer", "Customers", "Residents", "Both",
    "Most", "Some", "Many", "Several", "Other", "Such", "Where", "Which", "Who", "What", "Why", "How", "Then",
    "There", "Here", "Once", "Following", "Between", "Within", "Without", "About", "Upon",
})
EN_NAME_PARTICLES = frozenset({"al", "Al", "el", "El", "bin", "bint", "ibn", "Ibn", "abu", "Abu", "de", "van",
                               "von", "der", "den", "da", "di", "le", "La", "Bin"})
# First names that start an untitled person ("Ahmed Hassan said"); left out: Will, May, Mark, Grace,
# Jordan and others that are often something else.
EN_GIVEN_NAMES = frozenset({
    "Ahmed", "Ahmad", "Mohammed", "Mohammad", "Muhammad", "Mohamed", "Ali", "Omar", "Umar", "Khalid", "Khaled",
    "Fahad", "Fahd", "Faisal", "Abdullah", "Abdulaziz", "Abdulrahman", "Abdelrahman", "Ibrahim", "Youssef",
    "Yousef", "Yusuf", "Hassan", "Hussein", "Hussain", "Nasser", "Tariq", "Tarek", "Saeed", "Saad", "Sultan",
    "Salman", "Turki", "Bandar", "Majid", "Walid", "Waleed", "Hisham", "Sami", "Ziad", "Rashid", "Mansour",
    "Nawaf", "Fatima", "Fatma", "Aisha", "Mariam", "Maryam", "Noura", "Nora", "Layla", "Leila", "Sara", "Sarah",
    "Huda", "Reem", "Rania", "Dana", "Hind", "Khadija", "Zainab", "Yasmin", "John", "James", "Michael",
    "David", "Robert", "William", "Richard", "Thomas", "Peter", "Paul", "George", "Daniel", "Andrew",
    "Christopher", "Stephen", "Steven", "Anthony", "Kevin", "Brian", "Edward", "Maria", "Anna", "Elizabeth",
    "Mary", "Jennifer", "Emma", "Laura", "Susan", "Karen", "Linda", "Catherine", "Helen", "Rachel", "Emily",
    "Sophie", "Julia", "Claire", "Jean", "Pierre", "Hans", "Carlos", "Juan", "Luis", "Ivan", "Wei", "Raj",
})

AR_TITLES = frozenset({
    "السيد", "السيدة", "الآنسة", "الدكتور", "الدكتورة", "الأستاذ", "الأستاذة", "المهندس", "المهندسة", "الشيخ",
    "الشيخة", "الأمير", "الأميرة", "الملك", "الملكة", "سمو", "معالي", "سعادة", "فخامة", "فضيلة", "اللواء",
    "العميد", "العقيد", "المقدم", "الرائد", "النقيب", "القاضي", "الحاج", "السفير", "السفيرة", "البروفيسور",
    "المحامي", "المستشار", "السمو",
})
# May continue a chain of titles but not start one: صاحب السمو الملكي الأمير ...
AR_TITLE_CONTINUATIONS = frozenset({"الملكي", "الملكية"})
# Abbreviated titles, written with a full stop: د. م. أ. أ.د.
AR_TITLE_ABBREVIATIONS = frozenset({"د", "م", "أ", "أد"})
# A title right after one of these names a place or building, not a person: طريق الملك فهد.
AR_FACILITY_WORDS = frozenset({"طريق", "شارع", "حي", "ميدان", "مطار", "ميناء", "جسر", "مدينة", "برج",
                               "مسجد", "جامع", "قاعدة", "محطة", "مجمع", "كورنيش", "دوار", "جائزة"})
AR_NAME_CONNECTORS = frozenset({"بن", "بنت", "ابن", "آل", "أبو", "أبا", "أبي", "أم"})
AR_GIVEN_NAMES = frozenset({
    "محمد", "أحمد", "محمود", "مصطفى", "علي", "عمر", "عثمان", "خالد", "سعد", "سعود", "فهد", "فيصل", "سلمان",
    "سلطان", "عبدالله", "عبدالرحمن", "عبدالعزيز", "عبدالمحسن", "عبدالكريم", "عبدالرحيم", "عبدالإله", "إبراهيم",
    "يوسف", "حسن", "حسين", "ناصر", "نايف", "تركي", "بندر", "ماجد", "طارق", "وليد", "هشام", "سامي", "زياد",
    "راشد", "حمد", "حمدان", "منصور", "مشعل", "نواف", "رامي", "مازن", "عمرو", "أسامة", "صالح", "عبدالرزاق",
    "فاطمة", "عائشة", "مريم", "نورة", "سارة", "هند", "ليلى", "ريم", "نوال", "لمى", "رنا", "هيفاء", "أسماء",
    "خديجة", "زينب", "لطيفة", "منيرة", "جواهر", "العنود", "ياسمين", "دانة", "عادل", "كريم", "جمال", "سعيد",
    "أمل", "هدى", "منى", "نور", "بدر", "ماهر", "ياسر", "رمضان", "حامد", "شريف",
})
# Given names that are also common words (just, generous, beauty, happy, hope, guidance, light, full
# moon ...): part of a name after a title, never the start of an untitled one.
AR_AMBIGUOUS_GIVEN = frozenset({"عادل", "كريم", "جمال", "سعيد", "أمل", "هدى", "منى", "نور", "بدر", "ماهر",
                                "ياسر", "رمضان", "حامد", "شريف", "صالح", "سعد", "حسن", "راشد"})
# Words that end (or rule out) a name: particles, reporting verbs, roles, time words.
AR_NAME_STOPWORDS = frozenset({
    "في", "على", "من", "إلى", "الى", "عن", "مع", "أن", "إن", "ان", "أنه", "إنه", "التي", "الذي", "الذين", "هذا",
    "هذه", "ذلك", "تلك", "قد", "لقد", "كان", "كانت", "يكون", "تم", "قال", "أكد", "أوضح", "أشار", "أعلن",
    "ذكر", "أضاف", "بين", "عند", "حيث", "كما", "لكن", "أو", "ثم", "حتى", "خلال", "بعد", "قبل", "منذ", "عبر",
    "حول", "ضمن", "لدى", "وفق", "بحسب", "نحو", "أمام", "رئيس", "مدير", "وزير", "نائب", "عضو", "أمين",
    "المدير", "الرئيس", "الوزير", "التنفيذي", "العام", "المالي", "الإداري", "الفني", "الرسمي", "المتحدث",
    "النائب", "المكلف", "بالنيابة", "يوم", "عام", "سنة", "شهر", "اليوم", "أمس", "غدا", "الحالي", "السابق",
    "الجديد", "السعودي", "المصري", "الأردني", "الإماراتي", "الكويتي", "القطري", "العماني", "البحريني",
    "العراقي", "السوري", "اللبناني", "اليمني", "العربي", "الأمريكي", "البريطاني", "الفرنسي", "وزيرة",
    "مديرة", "رئيسة", "وفد", "وفدا", "ممثل", "ممثلا", "فريق", "لجنة", "خبير", "مستشار", "المستشار",
    "هو", "هي", "هم", "هما", "نحن", "أنا", "يمكن", "وحده", "وحدها", "نفسه", "نفسها", "أيضا", "كذلك", "بدوره",
    "بدورها", "عندما", "لأن", "إذا", "لا", "لم", "لن", "ما", "كل", "بعض", "غير", "سوى", "جدا", "فقط", "دائما",
    "عادة", "غالبا", "أول", "آخر", "نفس", "ذات", "عدة", "جميع", "كافة", "الآن", "حاليا", "سابقا", "لاحقا",
})

# --- calendars ---------------------------------------------------------------------------------

EN_MONTHS = {"January": 1, "February": 2, "March": 3, "April": 4, "May": 5, "June": 6, "July": 7,
             "August": 8, "September": 9, "October": 10, "November": 11, "December": 12, "Jan": 1, "Feb": 2,
             "Mar": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Sept": 9, "Oct": 10, "Nov": 11,
             "Dec": 12}
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
               "Mon", "Tue", "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun")
# Egyptian/Gulf names and the Levantine/Iraqi (Syriac) names, with common spelling variants.
AR_MONTHS = {
    "يناير": 1, "فبراير": 2, "مارس": 3, "أبريل": 4, "إبريل": 4, "ابريل": 4, "مايو": 5, "يونيو": 6, "يونيه": 6,
    "يوليو": 7, "يوليه": 7, "أغسطس": 8, "اغسطس": 8, "سبتمبر": 9, "أكتوبر": 10, "اكتوبر": 10, "نوفمبر": 11,
    "ديسمبر": 12, "كانون الثاني": 1, "شباط": 2, "آذار": 3, "نيسان": 4, "أيار": 5, "حزيران": 6, "تموز": 7,
    "آب": 8, "أيلول": 9, "تشرين الأول": 10, "تشرين الثاني": 11, "كانون الأول": 12,
}
AR_WEEKDAYS = ("الأحد", "الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت")
HIJRI_MONTHS = {
    "محرم": 1, "المحرم": 1, "صفر": 2, "ربيع الأول": 3, "ربيع أول": 3, "ربيع الآخر": 4, "ربيع الثاني": 4,
    "ربيع ثاني": 4, "جمادى الأولى": 5, "جمادى الأول": 5, "جمادى الآخرة": 6, "جمادى الثانية": 6,
    "جمادى الآخر": 6, "رجب": 7, "شعبان": 8, "رمضان": 9, "شوال": 10, "ذو القعدة": 11, "ذي القعدة": 11,
    "ذو الحجة": 12, "ذي الحجة": 12,
    "Muharram": 1, "Safar": 2, "Rabi al-Awwal": 3, "Rabi' al-Awwal": 3, "Rabi I": 3, "Rabi al-Thani": 4,
    "Rabi al-Akhir": 4, "Rabi' al-Thani": 4, "Rabi II": 4, "Jumada al-Ula": 5, "Jumada al-Awwal": 5,
    "Jumada I": 5, "Jumada al-Akhirah": 6, "Jumada al-Thani": 6, "Jumada II": 6, "Rajab": 7, "Shaban": 8,
    "Sha'ban": 8, "Ramadan": 9, "Shawwal": 10, "Dhu al-Qadah": 11, "Dhul-Qadah": 11, "Dhu al-Qi'dah": 11,
    "Dhu al-Hijjah": 12, "Dhul-Hijjah": 12,
}

# --- money -------------------------------------------------------------------------------------

# Written before the amount ($ 5, USD 5). Values are ISO 4217 codes.
# "SR" (Saudi riyal) only after the amount: before it, "SR 99" is as often a state route.
CURRENCY_PREFIXES = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "USD": "USD", "EUR": "EUR",
                     "GBP": "GBP", "SAR": "SAR", "AED": "AED", "QAR": "QAR", "KWD": "KWD",
                     "BHD": "BHD", "OMR": "OMR", "JOD": "JOD", "EGP": "EGP", "IQD": "IQD", "MAD": "MAD",
                     "CHF": "CHF", "JPY": "JPY", "CNY": "CNY", "INR": "INR", "ر.س": "SAR", "د.إ": "AED"}
# Written after the amount (5 dollars, ٥ ريالات). An unqualified dinar has no single ISO code and
# keeps the word DINAR; an unqualified riyal is taken as Saudi, dirham as Emirati, جنيه as Egyptian,
# "dollars" as US and "pounds" as sterling — the readings a MENA office document means by default.
CURRENCY_SUFFIXES = {
    **{code: code for code in ("USD", "EUR", "GBP", "SAR", "AED", "QAR", "KWD", "BHD", "OMR", "JOD", "EGP",
                               "IQD", "MAD", "CHF", "JPY", "CNY", "INR")},
    "US dollars": "USD", "dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR",
    "pounds sterling": "GBP", "pounds": "GBP", "sterling": "GBP", "Saudi riyals": "SAR", "riyals": "SAR",
    "riyal": "SAR", "dirhams": "AED", "dirham": "AED", "Kuwaiti dinars": "KWD", "Jordanian dinars": "JOD",
    "dinars": "DINAR", "dinar": "DINAR", "ر.س": "SAR", "SR": "SAR",
    "دولار أمريكي": "USD", "دولار أميركي": "USD", "دولار": "USD", "دولارا": "USD", "دولارات": "USD",
    "يورو": "EUR", "جنيه إسترليني": "GBP", "جنيه استرليني": "GBP", "جنيه مصري": "EGP", "جنيه": "EGP",
    "جنيها": "EGP", "جنيهات": "EGP", "ريال سعودي": "SAR", "ريال قطري": "QAR", "ريال عماني": "OMR",
    "ريال يمني": "YER", "ريال": "SAR", "ريالا": "SAR", "ريالات": "SAR", "درهم إماراتي": "AED",
    "درهم مغربي": "MAD", "درهم": "AED", "درهما": "AED", "دراهم": "AED", "دينار كويتي": "KWD",
    "دينار أردني": "JOD", "دينار بحريني": "BHD", "دينار عراقي": "IQD", "دينار ليبي": "LYD",
    "دينار تونسي": "TND", "دينار جزائري": "DZD", "دينار": "DINAR", "دينارا": "DINAR", "دنانير": "DINAR",
    "ليرة لبنانية": "LBP", "ليرة سورية": "SYP", "ليرة تركية": "TRY",
}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12, "mn": 10**6, "mln": 10**6,
          "bn": 10**9, "ألف": 10**3, "آلاف": 10**3, "الف": 10**3, "مليون": 10**6, "ملايين": 10**6,
          "مليار": 10**9, "مليارات": 10**9, "بليون": 10**9, "ترليون": 10**12, "تريليون": 10**12}

# Country calling codes accepted after a 00 international prefix (after "+" any code is).
CALLING_CODES = frozenset({
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "39", "41", "43", "44", "45", "46", "47", "49", "60",
    "61", "62", "63", "65", "81", "82", "86", "90", "91", "92", "93", "94", "98", "212", "213", "216", "218",
    "249", "252", "961", "962", "963", "964", "965", "966", "967", "968", "970", "971", "972", "973", "974"})

# --- units -------------------------------------------------------------------------------------

# Surface form -> canonical symbol. Matched case-sensitively and only as a whole word, so "m" in
# "5 March" or "g" in "5 games" is not a unit. Bare Arabic م is left out: it also marks a year (2025م).
UNITS = {
    "mg/L": "mg/L", "mg/l": "mg/L", "µg/L": "µg/L", "μg/L": "µg/L", "ug/L": "µg/L", "g/L": "g/L",
    "ppm": "ppm", "ppb": "ppb", "NTU": "NTU", "µS/cm": "µS/cm", "μS/cm": "µS/cm", "mS/cm": "mS/cm",
    "km²": "km²", "km2": "km²", "m²": "m²", "m2": "m²", "m³/day": "m³/d", "m3/day": "m³/d", "m³/d": "m³/d",
    "m3/d": "m³/d", "m³/h": "m³/h", "m3/h": "m³/h", "L/s": "L/s", "m³": "m³", "m3": "m³",
    "cubic metres": "m³", "cubic meters": "m³", "square kilometres": "km²", "square kilometers": "km²",
    "sq mi": "mi²", "square miles": "mi²", "miles": "mi", "km/h": "km/h", "m/s": "m/s", "km": "km", "m": "m",
    "cm": "cm", "mm": "mm", "kilometres": "km", "kilometers": "km", "metres": "m", "meters": "m",
    "hectares": "ha", "ha": "ha", "kg": "kg", "g": "g", "mg": "mg", "tonnes": "t", "tonne": "t", "tons": "t",
    "L": "L", "litres": "L", "liters": "L", "ml": "mL", "mL": "mL", "barrels": "bbl", "barrel": "bbl",
    "bbl": "bbl", "gallons": "gal", "kWh": "kWh", "MWh": "MWh", "GWh": "GWh", "TWh": "TWh", "kW": "kW",
    "MW": "MW", "GW": "GW", "kV": "kV", "MVA": "MVA", "°C": "°C", "° C": "°C", "degrees Celsius": "°C",
    "°F": "°F", "bar": "bar", "psi": "psi", "kPa": "kPa", "MPa": "MPa",
    "ملغم/لتر": "mg/L", "ملغ/لتر": "mg/L", "مغ/لتر": "mg/L", "ملجم/لتر": "mg/L", "جزء في المليون": "ppm",
    "كم²": "km²", "كم2": "km²", "م²": "m²", "م2": "m²", "متر مربع": "m²", "مترا مربعا": "m²",
    "م³/يوم": "m³/d", "م3/يوم": "m³/d", "م³": "m³", "م3": "m³", "متر مكعب": "m³", "مترا مكعبا": "m³",
    "أمتار مكعبة": "m³", "كم/ساعة": "km/h", "كيلومتر مربع": "km²",
    "كيلومترا مربعا": "km²", "كيلومترات مربعة": "km²", "ميل": "mi", "ميلا": "mi", "أميال": "mi",
    "ميل مربع": "mi²", "ميلا مربعا": "mi²", "كم": "km", "كيلومتر": "km", "كيلومترا": "km",
    "كيلومترات": "km", "متر": "m", "مترا": "m", "أمتار": "m", "سم": "cm", "ملم": "mm", "هكتار": "ha",
    "هكتارات": "ha", "دونم": "dunam", "دونما": "dunam", "دونمات": "dunam", "كغ": "kg", "كجم": "kg",
    "كيلوغرام": "kg", "كيلوجرام": "kg", "غرام": "g", "جرام": "g", "ملغم": "mg", "طن": "t", "طنا": "t",
    "أطنان": "t", "لتر": "L", "لترا": "L", "لترات": "L", "برميل": "bbl", "برميلا": "bbl", "براميل": "bbl",
    "كيلوواط ساعة": "kWh", "ميغاواط ساعة": "MWh", "ميجاواط ساعة": "MWh", "كيلوواط": "kW", "ميغاواط": "MW",
    "ميجاواط": "MW", "ميغاوات": "MW", "ميجاوات": "MW", "غيغاواط": "GW", "جيجاواط": "GW", "كيلوفولت": "kV",
    "درجة مئوية": "°C", "درجات مئوية": "°C", "°م": "°C", "م°": "°C",
}
