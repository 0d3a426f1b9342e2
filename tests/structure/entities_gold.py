"""A small hand-labelled evaluation set for :mod:`llmforge.structure.entities`.

Sentences in the style of utility, government and business documents and news, 26 English and 26
Arabic, each with the entities a careful reader would index, as ``(type, surface text)`` pairs. The
sentences were written and labelled before the rules were tuned and include traps the rules are
known to miss (names with no cue, organisations with no keyword, a newspaper named after a city).

Labelling conventions (the same ones the extractor documents):

* person: the name without its title ("Dr. Khalid Al-Harbi" -> "Khalid Al-Harbi");
* organization / place: without a leading "the" or an Arabic proclitic (و ب ل ف ك) when the rest
  is the name; a generic body ("the Board of Directors", "إدارة خدمة العملاء") is not an entity;
* date: a weekday written next to the date belongs to it ("يوم" does not); a bare year, a month
  without a year and a time of day are not dates; era markers (هـ, م, AH) belong to the date;
* money, percent, quantity: the number with its currency, scale word and unit; counts of things
  with no unit (14 bids, 12,000 employees) are not quantities;
* phone: with its extension; identifier: the code alone, without its label ("REF: AB12345" ->
  "AB12345"); ISO/IEC standard numbers are identifiers.
"""

from __future__ import annotations

from typing import NamedTuple


class Example(NamedTuple):
    language: str
    text: str
    entities: list[tuple[str, str]]


ENGLISH = [
    Example("en", "The Ministry of Energy announced on 7 March 2025 that electricity tariffs for commercial "
            "users will rise by 12.5% from 1 July 2025.",
            [("organization", "Ministry of Energy"), ("date", "7 March 2025"), ("percent", "12.5%"),
             ("date", "1 July 2025")]),
    Example("en", "Invoice INV-2024-0042 for USD 1,250,000 is payable to National Water Company by 31/03/2025.",
            [("identifier", "INV-2024-0042"), ("money", "USD 1,250,000"),
             ("organization", "National Water Company"), ("date", "31/03/2025")]),
    Example("en", "For billing questions call +966 11 465 2000 ext. 2214 or email Billing@NWC.com.sa.",
            [("phone", "+966 11 465 2000 ext. 2214"), ("email", "Billing@NWC.com.sa")]),
    Example("en", "Dr. Khalid Al-Harbi, director of the treatment plant in Riyadh, said turbidity stayed below "
            "1.5 NTU throughout February.",
            [("person", "Khalid Al-Harbi"), ("place", "Riyadh"), ("quantity", "1.5 NTU")]),
    Example("en", "Saudi Electricity Company reported net profit of SAR 2.4 billion in 2024, up 8 percent on "
            "the previous year.",
            [("organization", "Saudi Electricity Company"), ("money", "SAR 2.4 billion"),
             ("percent", "8 percent")]),
    Example("en", "Mrs. Sarah Thompson of Thames Water Utilities Ltd met officials in London on Tuesday, "
            "4 February 2025.",
            [("person", "Sarah Thompson"), ("organization", "Thames Water Utilities Ltd"), ("place", "London"),
             ("date", "Tuesday, 4 February 2025")]),
    Example("en", "The new desalination plant in Jubail, Saudi Arabia, will produce 600,000 m³ of water per "
            "day and consume 250 MW.",
            [("place", "Jubail"), ("place", "Saudi Arabia"), ("quantity", "600,000 m³"), ("quantity", "250 MW")]),
    Example("en", "Payments should be made to IBAN SA03 8000 0000 6080 1016 7519 quoting reference REF: AB12345.",
            [("identifier", "SA03 8000 0000 6080 1016 7519"), ("identifier", "AB12345")]),
    Example("en", "Full terms are published at https://www.moenergy.gov.sa/en/tariffs and summarised at "
            "www.example.org/faq.",
            [("url", "https://www.moenergy.gov.sa/en/tariffs"), ("url", "www.example.org/faq")]),
    Example("en", "Prof. Maria Gonzalez from the University of Madrid presented the results at the conference "
            "in Dubai on March 12, 2025.",
            [("person", "Maria Gonzalez"), ("organization", "University of Madrid"), ("place", "Dubai"),
             ("date", "March 12, 2025")]),
    Example("en", "Nitrate levels reached 48 mg/L at well 7, close to the 50 mg/L limit set by the World Health "
            "Organization.",
            [("quantity", "48 mg/L"), ("quantity", "50 mg/L"), ("organization", "World Health Organization")]),
    Example("en", "The contract, signed on 2025-01-15, is valued at €3.2 million and runs until Dec. 2027.",
            [("date", "2025-01-15"), ("money", "€3.2 million"), ("date", "Dec. 2027")]),
    Example("en", "Customers in Cairo and Alexandria can reach the helpline on 0800 123 4567 between 8 am and 8 pm.",
            [("place", "Cairo"), ("place", "Alexandria"), ("phone", "0800 123 4567")]),
    Example("en", "The audit by Ernst & Young found that 3.4% of meters in the Eastern Province were faulty.",
            [("organization", "Ernst & Young"), ("percent", "3.4%"), ("place", "Eastern Province")]),
    Example("en", "According to Mr. John Carter, the project complies with ISO 9001:2015 and ISO 14001.",
            [("person", "John Carter"), ("identifier", "ISO 9001:2015"), ("identifier", "ISO 14001")]),
    Example("en", "Temperatures in Kuwait City exceeded 50 °C last summer, pushing peak demand to 15.2 GW.",
            [("place", "Kuwait City"), ("quantity", "50 °C"), ("quantity", "15.2 GW")]),
    Example("en", "Send the signed form to procurement@acme-water.co.uk before Friday 14 March 2025 or fax it "
            "to +44 20 7946 0958.",
            [("email", "procurement@acme-water.co.uk"), ("date", "Friday 14 March 2025"),
             ("phone", "+44 20 7946 0958")]),
    Example("en", "The International Monetary Fund expects growth of 2.8 per cent in the United Arab Emirates "
            "this year.",
            [("organization", "International Monetary Fund"), ("percent", "2.8 per cent"),
             ("place", "United Arab Emirates")]),
    Example("en", "Ahmed Hassan, chief executive of Gulf Desalination Holdings, said the tender PO-55821 "
            "attracted 14 bids worth $450 million.",
            [("person", "Ahmed Hassan"), ("organization", "Gulf Desalination Holdings"),
             ("identifier", "PO-55821"), ("money", "$450 million")]),
    Example("en", "Water losses in Amman fell from 48% to 39% between 2019 and 2024, the Jordan Valley "
            "Authority said.",
            [("place", "Amman"), ("percent", "48%"), ("percent", "39%"), ("organization", "Jordan Valley Authority")]),
    Example("en", "Meeting minutes dated 05/06/2025 were circulated by the Board of Directors to all members.",
            [("date", "05/06/2025")]),
    Example("en", "Ramadan working hours apply from 1 Ramadan 1446 AH (1 March 2025) until the end of Shawwal.",
            [("date", "1 Ramadan 1446 AH"), ("date", "1 March 2025")]),
    Example("en", "The pipeline carries 1.2 million barrels a day from Dhahran to the port at Ras Tanura.",
            [("quantity", "1.2 million barrels"), ("place", "Dhahran"), ("place", "Ras Tanura")]),
    Example("en", "Please quote account number 004-118723-001 and your customer ID C-20931 in all "
            "correspondence with Emirates NBD.",
            [("identifier", "004-118723-001"), ("identifier", "C-20931"), ("organization", "Emirates NBD")]),
    Example("en", "Residents of Sharjah paid an average of AED 410 per month, while the tariff in Abu Dhabi "
            "was 26 fils per kWh.",
            [("place", "Sharjah"), ("money", "AED 410"), ("place", "Abu Dhabi"), ("money", "26 fils")]),
    Example("en", "Tel: (202) 555-0147 | Email: info@riverside-utilities.org | Web: http://riverside-utilities.org",
            [("phone", "(202) 555-0147"), ("email", "info@riverside-utilities.org"),
             ("url", "http://riverside-utilities.org")]),
]

ARABIC = [
    Example("ar", "أعلنت وزارة الطاقة يوم الأحد 9 مارس 2025 عن رفع تعرفة الكهرباء بنسبة 12.5% اعتبارا من "
            "1 يوليو 2025.",
            [("organization", "وزارة الطاقة"), ("date", "الأحد 9 مارس 2025"), ("percent", "12.5%"),
             ("date", "1 يوليو 2025")]),
    Example("ar", "قال الدكتور خالد بن عبدالله الحربي إن المشروع سيكتمل في الرياض بحلول ديسمبر 2026.",
            [("person", "خالد بن عبدالله الحربي"), ("place", "الرياض"), ("date", "ديسمبر 2026")]),
    Example("ar", "بلغت قيمة العقد ٣٫٥ مليون ريال سعودي، ويستمر حتى ١٥/٠٩/١٤٤٧هـ.",
            [("money", "٣٫٥ مليون ريال سعودي"), ("date", "١٥/٠٩/١٤٤٧هـ")]),
    Example("ar", "للاستفسار يرجى الاتصال على الرقم ٩٢٠٠٠١١٢٣ أو عبر البريد الإلكتروني info@sec.com.sa.",
            [("phone", "٩٢٠٠٠١١٢٣"), ("email", "info@sec.com.sa")]),
    Example("ar", "وقعت الشركة السعودية للكهرباء اتفاقية مع شركة أكوا باور بقيمة 2.1 مليار دولار.",
            [("organization", "الشركة السعودية للكهرباء"), ("organization", "شركة أكوا باور"),
             ("money", "2.1 مليار دولار")]),
    Example("ar", "وأظهرت نتائج المختبر أن تركيز النترات بلغ 45 ملغم/لتر في عينات مياه الآبار شمال القصيم.",
            [("quantity", "45 ملغم/لتر"), ("place", "القصيم")]),
    Example("ar", "استقبل معالي وزير المياه المهندس عبدالرحمن الفضلي وفدا من البنك الدولي في القاهرة يوم "
            "الثلاثاء ١١ شباط ٢٠٢٥.",
            [("person", "عبدالرحمن الفضلي"), ("organization", "البنك الدولي"), ("place", "القاهرة"),
             ("date", "الثلاثاء ١١ شباط ٢٠٢٥")]),
    Example("ar", "ارتفعت نسبة البطالة إلى 7.6 في المائة خلال الربع الأول، وفق الهيئة العامة للإحصاء.",
            [("percent", "7.6 في المائة"), ("organization", "الهيئة العامة للإحصاء")]),
    Example("ar", "تبدأ إجازة عيد الفطر من 29 رمضان 1446 هـ وتنتهي في 8 شوال 1446 هـ.",
            [("date", "29 رمضان 1446 هـ"), ("date", "8 شوال 1446 هـ")]),
    Example("ar", "يرجى تحويل المبلغ إلى الحساب رقم SA44 2000 0001 2345 6789 1234 لدى مصرف الراجحي.",
            [("identifier", "SA44 2000 0001 2345 6789 1234"), ("organization", "مصرف الراجحي")]),
    Example("ar", "تنتج محطة رأس الخير 1,025,000 م³ من المياه يوميا وتولد 2400 ميغاواط من الكهرباء.",
            [("place", "رأس الخير"), ("quantity", "1,025,000 م³"), ("quantity", "2400 ميغاواط")]),
    Example("ar", "أكدت السيدة فاطمة الزهراء المنصوري أن جامعة الملك سعود ستستضيف المؤتمر في 20 أبريل 2025.",
            [("person", "فاطمة الزهراء المنصوري"), ("organization", "جامعة الملك سعود"),
             ("date", "20 أبريل 2025")]),
    Example("ar", "للتواصل: هاتف +966 11 234 5678 تحويلة 305، فاكس 011 234 5679.",
            [("phone", "+966 11 234 5678 تحويلة 305"), ("phone", "011 234 5679")]),
    Example("ar", "تضمن التقرير الصادر عن مجلس الوزراء بتاريخ 2025/02/18 خطة لخفض الانبعاثات بنسبة 30٪ "
            "بحلول عام 2030.",
            [("organization", "مجلس الوزراء"), ("date", "2025/02/18"), ("percent", "30٪")]),
    Example("ar", "وقع الاتفاقية الشيخ محمد بن راشد آل مكتوم في دبي بحضور ممثلين عن شركة مياه وكهرباء الإمارات.",
            [("person", "محمد بن راشد آل مكتوم"), ("place", "دبي"),
             ("organization", "شركة مياه وكهرباء الإمارات")]),
    Example("ar", "سجلت درجات الحرارة في الكويت 51 درجة مئوية، وارتفع الطلب على الكهرباء إلى 16 ألف ميغاواط.",
            [("place", "الكويت"), ("quantity", "51 درجة مئوية"), ("quantity", "16 ألف ميغاواط")]),
    Example("ar", "تفاصيل المناقصة رقم 45/2025 متاحة على الموقع https://etimad.sa/tenders حتى 30 نيسان 2025.",
            [("identifier", "45/2025"), ("url", "https://etimad.sa/tenders"), ("date", "30 نيسان 2025")]),
    Example("ar", "بلغت إيرادات هيئة الاتصالات والفضاء والتقنية 850 مليون درهم في الربع الثالث.",
            [("organization", "هيئة الاتصالات والفضاء والتقنية"), ("money", "850 مليون درهم")]),
    Example("ar", "افتتح الأستاذ الدكتور سامي العبيدي فرع المعهد في عمّان بتكلفة 750 ألف دينار أردني.",
            [("person", "سامي العبيدي"), ("place", "عمّان"), ("money", "750 ألف دينار أردني")]),
    Example("ar", "ويعمل في مستشفى الملك فيصل التخصصي أكثر من 12,000 موظف، بحسب المدير التنفيذي.",
            [("organization", "مستشفى الملك فيصل التخصصي")]),
    Example("ar", "تم رصد 3.2 مليون دولار لتطوير شبكة المياه في مدينة الخبر خلال عام 2024.",
            [("money", "3.2 مليون دولار"), ("place", "الخبر")]),
    Example("ar", "ونشرت صحيفة الرياض الخبر نقلا عن المتحدث باسم الهيئة يوم 5 كانون الثاني 2025.",
            [("organization", "صحيفة الرياض"), ("date", "5 كانون الثاني 2025")]),
    Example("ar", "يمكن التواصل مع إدارة خدمة العملاء عبر الجوال 0551234567 أو البريد support@nwc.com.sa.",
            [("phone", "0551234567"), ("email", "support@nwc.com.sa")]),
    Example("ar", "وأشار التقرير إلى أن محافظة الأحساء استهلكت 1.8 مليون متر مكعب من المياه في يوم 14/8/2024.",
            [("place", "الأحساء"), ("quantity", "1.8 مليون متر مكعب"), ("date", "14/8/2024")]),
    Example("ar", "وحضر الاجتماع ممثلون عن منظمة الصحة العالمية وبرنامج الأمم المتحدة الإنمائي في جنيف.",
            [("organization", "منظمة الصحة العالمية"), ("organization", "برنامج الأمم المتحدة الإنمائي"),
             ("place", "جنيف")]),
    Example("ar", "وبلغت قيمة الفاتورة رقم INV-2025-0193 مبلغ 12,450 جنيه مصري تسدد قبل 31 ديسمبر 2025م.",
            [("identifier", "INV-2025-0193"), ("money", "12,450 جنيه مصري"), ("date", "31 ديسمبر 2025م")]),
]

GOLD = ENGLISH + ARABIC
