"""The PII formats the scrubber finds, as data: each entity's regexes, validators and `needs`, the cheap regex that any
text a format matches must contain. The scrubber's prefilter is made of the needs alone, so it decides whether a text
needs presidio without importing it (filters/pii_recognizers.py turns these into presidio recognizers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple


class Format(NamedTuple):
    """One written form of an entity: the regex that finds it (the span of its group "id" when it has one) and
    `needs`, a cheap regex every text the first one matches also matches. Cheap means led by a digit or a rare
    character: a case-insensitive word list tried at every position costs more than presidio saves. A format found
    after a case-insensitive label may instead need a lowercase keyword of the label in the lowercased text
    (`lowered`): a plain word list skips ahead there several times faster than its case-insensitive twin. The
    lowercased text is searched with a space before it, so a need may start "[^\\w]" where a label starts a word: re
    skips to a character of a class faster than it tries a boundary at every position (a third less)."""

    regex: re.Pattern
    needs: str
    lowered: bool = False


# Phones. Between digits: one optional space, dot, dash, underscore, slash or en dash (0912 345.678, 0912_345_678,
# 0912–345–678), a ")" after an area code. Not inside a longer number, word, decimal or path, except right after a
# label glued to the digits (SĐT0912345678, Tel.+84...) or a bare mobile glued to a lowercase word.
_SEP = r"[ .\-_/–]?"
_LABELS = ("đt", "dt", "tel", "phone", "hotline", "zalo", "viber", "mobile", "fax", "dđ")
# (The lookahead first: a position that cannot start a number fails before the label lookbehinds are tried.)
_START = (
    r"(?=[\d(+])(?:(?<![\w+.\-/–])|(?<![\w+])(?=\+)|"
    + "|".join(f"(?i:(?<={label})|(?<={label}\\.))" for label in _LABELS)
    # a bare mobile number typed against the word before it ("của tôi là0912345678", "di động0979 001 246"): a
    # lowercase letter, then exactly ten digits with a mobile prefix, maybe grouped
    + r"|(?<=[a-zà-ỹđ])(?=0[35789](?:[ .\-]?\d){8}(?![ .\-]?\d))"
    + ")"
)
_END = r"(?![\w]|[.\-_/–]\d)"
# Every VN and US form below holds 10 digits or more. (A need led by one "\d", not "\d{n}": Python's re then skips
# ahead to a digit fast, half the time of the same need written "\d{10}".)
_PHONE_NEEDS = r"\d(?:[ .\-_/–()]{0,3}\d){9}"

# A day.month.year date followed by more digits ("05.12.2023 14 giờ") is not a phone.
_NOT_DATE = r"(?!(?:0?[1-9]|[12]\d|3[01])[./\-](?:0?[1-9]|1[0-2])[./\-](?:19|20)\d\d)"
# Vietnamese numbers, 10 or 11 digits with the 0: mobiles (09x; 01xx before the 2018 renumbering), landlines with new
# (024, 0236) and old (04, 08, 0511) area codes; a mobile's 0 may stand apart ("0.973.402.518"). With the country code: +84, 0084, or 84 without its plus (not 84
# and a dot: "84.912.345.678 đồng" is a price).
# No Vietnamese number is 01 and eight digits (old 01xx mobiles had eleven, landlines begin 02 or, before 2017, 03-08):
# ten bare digits from 01 are a company's tax code ("mã số doanh nghiệp 0101234567"). Grouped, they may be a Malaysian
# mobile ("012-738 4419").
_NOT_TAX_CODE = r"(?!1\d{8}(?![ .\-_/–]?\d))"
_VN_ONE = (
    _NOT_DATE
    + r"(?:\(?0"
    + _NOT_TAX_CODE
    + r"(?:\.(?=[35789]))?[1-9]|(?:\(?(?:\+|00)84\)?|\(84\)?|84(?!\.))"
    + _SEP
    + r"[1-9])"
    + r"(?:\)?"
    + _SEP
    + r"\d){8,9}"
)
# A mobile number spelled out digit by digit against automated harvesting ("0 3 7 8 . 2 9 1 . 6 5 0").
_SPACED = r" (?:[.\-] )?"  # a space between every two digits, maybe " . " or " - "
VN_SPACED_MOBILE = re.compile(
    r"(?<![\w+.\-/–])(?<!\d )0" + _SPACED + r"[35789](?:" + _SPACED + r"\d){8}(?! ?[.\-]? ?\d)"
)
# A range or pair written without spaces ("0912345678-0987654321") is one match: each alone is inside a longer number.
# Not inside a row of space-separated numbers: a timetable's "0716 0748 0818 48" holds ten digits from 07. The token
# before is all digits there; after an order code ("MB2031 0903112233") a number stands alone.
_NOT_IN_ROW = "".join(f"(?<!{lead}" + r"\d" * n + " )" for n in range(1, 5) for lead in (r"\s", "^"))
VN_PHONE = re.compile(_NOT_IN_ROW + _START + _VN_ONE + r"(?:\s?[\-/–]\s?" + _VN_ONE + ")*" + _END)
# US numbers need separators (spaces, dots, dashes, slashes: 415/555/0143) or parentheses: ten bare digits are more
# often an id than a phone, unless a label says what they are (below).
_US_SEP = r"(?:[ .\-/]| [\-–] )"  # "614 - 382 - 7740" too
US_PHONE = re.compile(
    _START + r"(?:\+?1[ .\-])?(?:\([2-9]\d\d\)[ \-]?|[2-9]\d\d" + _US_SEP + r")[2-9]\d\d" + _US_SEP + r"\d{4}" + _END
)
# An Indian mobile written five and five ("99005 18834", "98450-12345"), alone: not in a row of numbers.
IN_MOBILE = re.compile(_NOT_IN_ROW + r"(?<![\w+.\-/])[6-9]\d{4}[ \-]\d{5}(?![\w]|[ .\-]?\d)")
# A value after its label may follow a remark in brackets ("Aadhaar (for payroll): ..."; "mobile (once activated): ...")
# or, after a colon, a clause ("SIN was pasted into a ticket in 2022 by mistake: 528 ..."), as forms and notes write.
_ASIDE = r"(?: ?\([^()\n]{0,60}\))?"
_AFTER_LABEL = r"(?:[^\d\n]{0,20}?|[^\n]{0,100}?: ?)"
# A phone's labels (English, German, Spanish), as LABELLED_PHONE and its need read them.
_PHONE_LABELS = ("mob", "mobil", "mobile", "cell", "cellphone", "ph", "phone", "tel", "telephone", "telefon", "handy")
_PHONE_LABELS += ("whatsapp", "m[óo]vil", "fijo", "tel[ée]fono")
# Ten to twelve bare digits after a phone label ("Mob: 9845012345", "WhatsApp +919845012345"): any country's number;
# or eight and more in any grouping, as local numbers are written ("mobile: 8234 7719", "her cell was 021 447 8812",
# German "Mobil 0176 / 2841 9935").
_PHONE_AFTER_LABEL = (
    _ASIDE
    + r"(?: (?i:for) [^\d\n:]{1,20}(?=:))?"  # whose phone: "Phone for courier: ..."
    + r"(?: (?i:is|was|number|on)\b){0,3}\s?[:\-]?\s?(?P<id>\+?\d(?:(?: / |[ /\-])?\d){7,13})"
    + _END
)
LABELLED_PHONE = re.compile(r"(?i:\b(?:" + "|".join(_PHONE_LABELS) + r")\b\.?(?: ?no\.?)?)" + _PHONE_AFTER_LABEL)
# Ten to thirteen bare digits after a verb that asks for a phone, a name or a pronoun between ("Call Mike on
# 6144180923", "text me 9845012345", "Reach us at 2125550147", "WhatsApp me 447700900123"): bare digits alone are more
# often an id, and grouped numbers are found without the verb.
_PHONE_VERBS = ("call", "text", "ring", "sms", "contact", "reach", "whatsapp", "message")
VERB_PHONE = re.compile(
    r"(?i:\b(?:"
    + "|".join(_PHONE_VERBS)
    + r")\b(?: or (?:call|text))?)"
    + r"(?: (?:(?i:me|us|him|her|them)|[A-Z][a-z]+)){0,2}(?: (?i:on|at))?:? ?(?P<id>\+?\d{10,13})"
    + _END
)
# The same after a telephone sign ("☎ 01573 / 448 21 06"): a regex and a need of its own, since a sign joined to the
# labels' need cost a third more there.
_PHONE_SIGNS = "☎📞"
SIGNED_PHONE = re.compile(f"[{_PHONE_SIGNS}]" + _PHONE_AFTER_LABEL)
# A mobile spelled in words, whole or after its first digits, against harvesting ("không chín tám ba – bốn bốn hai
# – không bảy sáu", "077 hai lăm tám, chín một bốn sáu", "07956 seven seven one two oh three"): 10 or 11 digits in
# all, three words at least (checked by spelled_phone).
_DIGIT_WORDS = {
    "vi": "không|một|mốt|hai|ba|bốn|tư|năm|lăm|nhăm|sáu|bảy|bẩy|tám|chín",
    "en": "zero|oh|one|two|three|four|five|six|seven|eight|nine",
}


_DIGIT_SEP = r"(?: ?[,.\-–] ?| )"


def _spelled_phone(words: str) -> list[Format]:
    """The formats of a phone spelled in a language's digit words: a 0 and up to four digits, or the word for 0, then
    two digit words at least (what the needs ask, one led by the digit and one by the word), then more words or digits."""
    word = rf"(?i:{words})"
    zero = rf"(?i:{words.split('|')[0]})"
    head = rf"(?:0\d{{0,4}}|{zero})(?:{_DIGIT_SEP}{word}){{2}}"
    regex = re.compile(rf"(?<![\w+]){head}(?:{_DIGIT_SEP}(?:\d{{1,5}}|{word})){{1,8}}(?!\w)")
    tail = rf"(?:{_DIGIT_SEP}{word}){{2}}"
    return [Format(regex, r"\d(?<=0)\d{0,4}" + tail), Format(regex, zero + tail)]


WORD_PHONES = [f for words in _DIGIT_WORDS.values() for f in _spelled_phone(words)]
# Other countries: "+" or "00" and 8-15 digits; phonenumbers checks that the number is valid for its country.
INTL_PHONE = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(?\d{1,5}\)?){2,6}" + _END)

# Ids and accounts are ids only after a context word; the digits may be grouped. CCCD: 12 digits, CMND: 9.
_ID_CONTEXT = (
    r"(?i:\b(?:cccd|cmnd|cmtnd|căn cước(?: công dân)?|can cuoc(?: cong dan)?|chứng minh(?: nhân dân| thư)?"
    r"|chung minh(?: nhan dan| thu)?|số định danh(?: cá nhân)?|so dinh danh"
    r"|số ?/ ?no\b\.?))"  # as a CCCD card or a driving licence prints its number: "Số / No.: 001196024871"
)
# CCCD's twelve digits may follow a name and a birth date ("CCCD mang tên Phạm Thị Hoa, sinh ngày 14/09/2003, số
# 038.185.004.567"): a wider window, which may hold other numbers, and the first twelve digits standing alone in it.
VN_CCCD = re.compile(_ID_CONTEXT + r"[^\n]{0,80}?(?<![\d.\-])(?P<id>\d(?:[ .\-]?\d){11})(?![ .\-]?\d)")
VN_CMND = re.compile(_ID_CONTEXT + r"[^\d\n]{0,30}?(?P<id>\d(?:[ .\-]?\d){8})(?![ .\-]?\d)")
# Passports (Vietnamese: a letter and 7 digits; others: 1-2 letters and 6-8 digits, or 8-9 digits: US, Norway).
PASSPORT = re.compile(
    r"\b(?i:hộ chiếu|ho chieu|passport)(?:[^\w\n]{0,3}(?i:số|so|no|number))?[^\w\n]{0,3}"
    r"(?P<id>[A-Z]{1,2}\d{6,8}|\d{8,9})\b"
)
# Other countries' personal numbers, after their name: a Canadian SIN (9 digits, 3-3-3, Luhn-valid) and a UK National
# Insurance number (two letters, three pairs of digits, A-D; "QQ 12 34 56 C" is HMRC's own example form).
CA_SIN = re.compile(
    r"\b(?i:social insurance number|SIN(?: number| no\.?)?)\b"
    + _AFTER_LABEL
    + r"(?P<id>\d{3}[ \-]?\d{3}[ \-]?\d{3})(?![ \-]?\d)"
)
# HMRC's spaced form alone is distinctive: its prefix letters (no D, F, I, Q, U, V; no O second), pairs, a suffix A-D.
UK_NINO_SPACED = re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] \d\d \d\d \d\d [A-D]\b")
UK_NINO = re.compile(
    r"\b(?i:national insurance(?: number| no\.?)?|NI (?:number|no\.?)|NINO)\b(?:[^\w\n]{0,20}?|[^\n]{0,100}?: ?)"
    r"(?P<id>[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b"
)
# Australia's tax file number (8 or 9 digits, its own checksum), Ireland's PPS number (7 digits and a letter, maybe a
# second one) and South Africa's identity number (13 digits: a birth date, the citizenship digit, Luhn), each after its
# name; Malaysia's MyKad (a birth date, a place code, 4 digits: 901123-10-5273) anywhere, its date checked;
# Singapore's NRIC and FIN (a letter, 7 digits, a check letter) after its name, or anywhere its check letter
# is right.
AU_TFN = re.compile(r"\b(?i:tax file number|TFN)\b" + _AFTER_LABEL + r"(?P<id>\d{3} ?\d{3} ?\d{2,3})(?![ \-]?\d)")
IE_PPSN = re.compile(
    r"\b(?i:PPSN?|personal public service)(?i: number| no\.?)?\b" + _AFTER_LABEL + r"(?P<id>\d{7}[A-W][A-IW]?)\b"
)
ZA_ID = re.compile(r"\b(?i:ID|identity)(?i: number| no\.?| document)?\b" + _AFTER_LABEL + r"(?P<id>\d{13})(?!\d)")
SG_NRIC = re.compile(r"\b[STFGM]\d{7}[A-Z]\b")
MY_NRIC = re.compile(r"(?<![\w\-])\d{6}-\d\d-\d{4}(?![\w\-])")
SG_NRIC_NAMED = re.compile(r"\b(?:NRIC|FIN)\b" + _AFTER_LABEL + r"(?P<id>[STFGM]\d{7}[A-Z])\b")
# Any other personal id after a label that names one: a student, member or patient ID, a national ID card, a health
# or tax number of one of many countries (Medicare, NHS, IRD, SSS, NIN, MyKad, Steuer-ID, Personalausweis; BHXH,
# BHYT, MSSV). The value: capitals and digits, groups joined by a dash, slash, dot or space (a group after a space
# holds a digit), 6-24 characters, 4 digits or more, not a date (checked by personal_id).
_PERSONAL_ID_LABELS = (
    r"(?:student|member|membership|patient|employee|staff|national|citizen|voter|personal|health|insurance|college"
    r"|recipient|subscriber|customer|pupil) (?:id|identification|no\.?|number|#)(?: number| no\.?| card)?"
    r"|id (?:no\.?|number|#)|(?:national )?id card|identity card|health card(?: no\.?| number)?|policy (?:no\.?|number|#)"
    r"|medicare(?: number| no\.?| card)?|nhs(?: number| no\.?)|ird(?: number| no\.?)?|sss(?: number| no\.?)?|nin"
    r"|mykad|ic (?:number|no\.?)|nric|tax (?:id|number|identification number)|steuer-?id|steuernummer"
    r"|personalausweis(?:-nr\.?| nr\.?)?|ausweis-?nr\.?|reisepass(?:-nr\.?| nr\.?)?|bsn|dni|nie|codice fiscale|pesel"
    r"|personnummer|bhxh|bhyt|mssv|mã số sinh viên|mã sinh viên|mã nhân viên|số định danh|mã định danh"
    r"|mã hv|mã học viên|mã hội viên|mã người bệnh|mã bệnh nhân|mã bn|mã sv|mã khách hàng"
)
# the need: the labels themselves, searched in the lowercased text (a case-insensitive search for them cost 7x)
_PERSONAL_ID_LABEL_LOWER = rf"[^\w](?:{_PERSONAL_ID_LABELS})(?![\w\-])"
_PERSONAL_ID_LABEL = rf"\b(?i:{_PERSONAL_ID_LABELS})(?![\w\-])"
PERSONAL_ID = re.compile(
    _PERSONAL_ID_LABEL
    + _AFTER_LABEL
    + r"(?<![\w\-/.])(?P<id>(?=[A-Z\d\-/.]*\d)[A-Z\d]+(?:(?:[\-/.]|\s(?=[A-Z]*\d))[A-Z\d]+)*)(?![\w\-/]|[.,]\d)"
)
# A driving licence's number after its name (US states mix letters and digits: "OH DL# SL482917"; a Vietnamese
# giấy phép lái xe has 12 digits): a word of 5-18 capitals and digits, four digits at least.
DRIVER_LICENSE = re.compile(
    r"(?:\b(?i:driver'?s? licen[cs]e|driving licen[cs]e|licen[cs]e (?:no\.?|number)|giấy phép lái xe|bằng lái(?: xe)?"
    r"|gplx)|\b[A-Z]{2,3} (?i:driver )?(?i:licen[cs]e)\b|\bDL\b ?#?)"
    r"[^\n]{0,20}?(?<![\w\-])(?P<id>(?=[A-Z\d]*\d(?:[A-Z]*\d){3})[A-Z\d]{5,18})\b"
)
# India: a PAN (five letters, the fourth the holder's kind, P for a person; four digits; a letter) and an Aadhaar
# number after its name (twelve digits, 4-4-4).
IN_PAN = re.compile(r"\b[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]\b")
IN_AADHAAR = re.compile(
    r"\b(?i:aadhaar|aadhar)\b(?i: no\.?| number| card)?"
    + _AFTER_LABEL
    + r"(?P<id>[2-9]\d{3} ?\d{4} ?\d{4})(?![ \-]?\d)"
)
# Mã số thuế: 10 digits, a branch adds -3 digits. Company codes are public, but a personal one is not and the two
# look the same.
VN_TAX_CODE = re.compile(
    r"\b(?i:mã số thuế|ma so thue|mst|tax code|tax id)\b[^\d\n]{0,20}?(?P<id>\d{10}(?:-\d{3})?)(?![\d\-])"
)
# Bank accounts: 6-19 digits, grouped by spaces or dashes, by dots only after the abbreviations STK / số TK ("tổng số
# tài khoản 1.234.567" is a count; "STK: 0071.000.123.456" is an account).
_ACCOUNT_ABBREVIATIONS = "stk|số tk|so tk"


def _account(labels: str, separators: str) -> re.Pattern:
    """An account number of 6-19 digits after one of the labels (maybe numbered: "STK 1:", "STK thứ 2"; maybe with a
    remark in brackets), its digits grouped by one of the separators."""
    return re.compile(
        rf"\b(?i:{labels})\b(?: ?(?:(?i:thứ) \d:?|\d:))?{_ASIDE}[^\d\n]{{0,20}}?(?P<id>\d(?:[{separators}]?\d){{5,18}})"
        r"(?![ .\-]?\d)"
    )


# Vietnamese banks by the names payment pages write before an account number ("Techcombank: 19036512345018").
_BANKS = (
    "vietcombank|vcb|techcombank|bidv|vietinbank|agribank|mb ?bank|acb|vpbank|sacombank|tpbank|vib|shb|hdbank|ocb"
    "|seabank|msb|eximbank|lienvietpostbank|lpbank|nam a bank|abbank|bac a bank|pvcombank|kienlongbank|vietbank"
)
BANK_ACCOUNT = _account(
    _ACCOUNT_ABBREVIATIONS
    + "|số tài khoản|so tai khoan|tài khoản số|tai khoan so|tài khoản|tai khoan|account number|account no|acct|acc|a/c|"
    + _BANKS,
    r" \-",
)
BANK_ACCOUNT_DOTTED = _account(_ACCOUNT_ABBREVIATIONS, r" .\-")
# An account number before its bank's name, as wedding and donation pages list them ("19036628451017 – Techcombank").
ACCOUNT_BEFORE_BANK = re.compile(r"(?<![\w.\-])(?P<id>\d(?:[ \-]?\d){5,18})(?= ?[–\-|:,(] ?(?i:" + _BANKS + r")\b)")
_ACCOUNT_NEEDS = r"\d(?:[ \-]?\d){5}"  # six digits, maybe grouped by spaces or dashes
# A UK sort code (80-22-60) after its name, and an account number right after the word "account" ("account
# 30128845", "account: 30128845"; "account for 123,456" is a count).
SORT_CODE = re.compile(r"\b(?i:sort code)\b[^\d\n]{0,10}?(?P<id>\d\d[ \-]\d\d[ \-]\d\d)(?![ \-]?\d)")
ACCOUNT_WORD = re.compile(r"\b(?i:account)\b:? ?(?P<id>\d{6,19})(?![ .\-]?\d)")

# user:password@ in the authority, or a query/fragment key that carries a secret (also prefixed: x-api_key, x_token).
_QUERY_KEYS = (
    r"[?&#;](?:[\w\-]*[_\-])?(?i:access[_\-]?token|auth(?:[_\-]?token)?|api[_\-]?key|key|token|secret|client[_\-]?secret"
    r"|password|passwd|pwd|pw|pass|sig|signature|credential|session(?:[_\-]?id)?|sid)="
)
_URL_LOGIN = r"://[^\s/?#@:]+:[^\s/?@]+@"  # a password may hold "#" ("orders_app:Hq7!vR2p#Lm9@")
CREDENTIAL_URL = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.\-]*(?:"
    + _URL_LOGIN
    + r"\S+|://[^\s?#]*(?=[?#])(?:\S*?(?=[&;#]))?"
    + _QUERY_KEYS
    + r"[^\s&#]{4,}\S*)"
)

# Keys and tokens: the formats of the big providers, private key blocks, bearer tokens, JWTs, and "name = value"
# assignments to a secret-looking name whose value holds a digit (prose says "the password is case sensitive").
_ASSIGN_KEY = r"(?i:api[_\-]?key|access[_\-]?key|secret|token|passw(?:or)?d|pwd|mật khẩu|mat khau)[\"']?\s*[:=]"
_ASSIGN_VALUE = r"\s*[\"']?(?P<id>(?=[^\s\"'<>,;]*\d)[^\s\"'<>,;]{6,})"  # holds a digit
SECRETS = [
    Format(re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), r"AKIA|ASIA"),  # AWS access key id
    Format(re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})"), r"gh[pousr]_|github_pat_"),
    Format(re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), r"xox[abposr]-"),  # Slack
    Format(re.compile(r"\bAIza[\w\-]{35}"), r"AIza"),  # Google API key
    Format(re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}"), r"k_live_"),  # Stripe
    # incoming webhooks: whoever holds the URL posts to the channel
    Format(re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/\-]{20,}"), r"hooks\.slack"),
    Format(re.compile(r"https://(?:\w+\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w\-]{20,}"), r"/api/webhooks/"),
    Format(
        re.compile(
            r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\n\s*\n|$)"
        ),
        r"PRIVATE KEY",
    ),
    Format(re.compile(r"\b(?:[Bb]earer|BEARER)\s+(?P<id>(?=\S*\d)[A-Za-z0-9\-._~+/]{16,}=*)"), r"[Bb](?:earer|EARER)"),
    Format(re.compile(r"\beyJ[\w\-]{8,}\.eyJ[\w\-]{8,}\.[\w\-]{8,}"), r"eyJ"),  # JWT
    Format(re.compile(_ASSIGN_KEY + _ASSIGN_VALUE), r"[:=]\s*[\"']?(?=[^\s\"'<>,;]*\d)[^\s\"'<>,;]{6}"),
]

# E-mails written to dodge harvesters: "name [at] host [dot] com", "name(at)host.org", "name @ host.vn", "name (a)
# gmail.com". The domain
# must end in a real public suffix (checked by tldextract), so "thanks @ john.smith" is not one.
# Also the words in capitals between spaces: "hotro AT congty DOT vn" (lowercase "at" and "dot" are English words).
_AT = r"(?:\s?[\[({<]\s?(?i:at|@|a|a còng)\s?[\])}>]\s?|\s@\s?|@\s|\sAT\s)"  # "a còng": Vietnamese for @
_DOT = r"(?:\s?[\[({<]\s?(?i:dot|\.|chấm)\s?[\])}>]\s?|\.|\s\.\s|\sDOT\s|\schấm\s)"  # "chấm": Vietnamese for dot
OBFUSCATED_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]*\w" + _AT + r"\w[\w\-]*(?:" + _DOT + r"\w[\w\-]*)+\b")
# Lowercase words only with both of them: "aoife at brennanstudio dot ie" ("meet at noon" has no " dot ").
SPELLED_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]*\w at \w[\w\-]*(?: dot \w[\w\-]*)+\b")
# (each alternative led by a rare character, the space checked behind it: a need led by \s is tried at every space)
_AT_NEEDS = r"[\[({<]\s?(?i:at|@|a|a còng)\s?[\])}>]|@(?<=\s@)|@\s|AT\s(?<=\sAT\s)"

# A house number and a street name: "1600 Pennsylvania Avenue", "42B Main Street"; Vietnamese "số 12 đường Lê Lợi",
# "45A/3 Nguyễn Trãi, phường 7", "ngõ 12 phố Huế". Only the number and the street go: a city or district alone is not PII.
_STREETS = (
    r"Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?|Court|Ct\.?|Place|Pl\.?"
    r"|Terrace|Parkway|Pkwy\.?|Highway|Hwy\.?|Way|Close|Crescent|Grove|Gardens|Mews|Square|Row|Parade|Esplanade"
    r"|Circuit|Quay|Promenade"
)
EN_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Z]?(?: (?:[NS][EW]|[NSEW]\.?|North|South|East|West))?(?: [A-Z0-9][a-z0-9]*){1,4} (?:"
    + _STREETS
    + r")(?![\w])(?:,? (?:Apt\.?|Suite|Unit|#) ?\w+)?"
)
# A US house number and street without a street type, before its city, state and ZIP code ("1193 Franklin Park S,
# Columbus, OH 43205"): the city, state and ZIP say it is an address.
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR"
    "|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)
US_CITY_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Z]?(?: [A-Z0-9][a-z0-9]*){1,4}(?: [NS]?[EW]|[NS])?, [A-Z][a-z]+(?: [A-Z][a-z]+){0,2},? (?:"
    + _US_STATES
    + r") \d{5}(?:-\d{4})?\b"
)
# A UK postcode (TN12 8RL, SW1A 1AA: a street's few houses; the inward part never holds C, I, K, M, O or V, and
# "X5 2GB" is a memory size), a PO box, and a French, Spanish or Italian street ("27 rue des Carmes"; not "via",
# "route" or "bd", English words or a bedroom count).
UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? \d(?!GB|TB|PB)[ABD-HJLNP-UW-Z]{2}\b")
PO_BOX = re.compile(r"\bP\.? ?O\.? Box \d{1,6}\b")
# An Eircode (V92 X2K8: one per dwelling) after its county or Dublin ("Co. Kerry V92 X2K8", "Dublin 4, D04 X285").
EIRCODE = re.compile(
    r"(?:\b(?:Co\.|County) [A-Z][a-z]{2,9}|\bDublin(?: \d{1,2})?|\b(?i:eircode):?),? "
    r"(?P<id>(?:[AC-FHKNPRTV-Y]\d\d|D6W) ?[0-9AC-FHKNPRTV-Y]{4})\b"
)
EU_ADDRESS = re.compile(
    r"\b\d{1,5}(?: ?bis| ?ter)?,? (?i:rue|avenue|boulevard|chemin|allée|impasse|quai|calle|viale|piazza|jalan|lorong)"
    r" (?:[a-zà-ÿ']+ ){0,3}[A-ZÀ-Ý][\w'\-]*"
)
# A street named first, its number after, as German, Dutch and Nordic pages write it, with the postcode that follows:
# "Friedrichstraße 148, 10117 Berlin", "Keizersgracht 123, 1015 CJ Amsterdam", "Schönhauser Allee 140, 10437 Berlin";
# the postcode may follow on the next line, or after a floor ("Lindenstraße 47, 2. OG links\n10969 Berlin").
_AFTER_HOUSE = r"(?:[a-zA-Z]|-?bis)?(?: ?,[^\n]{0,20}?)?(?:\n| ?, ?| )"
_POSTCODE_NOT_YEAR = r"(?:\d{5}|(?!(?:19|20)\d\d)\d{4})"  # "Nov 19, 2019 The" is a date
NAME_FIRST_ADDRESS = re.compile(
    r"\b[A-ZÄÖÜÅØÆ][\wäöüßåøæ\-]*(?:(?i:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|laan|straat|gracht"
    r"|plein|vej|gade|gatan|vägen|veien)| (?:Straße|Allee|Platz|Weg|Ring|Damm|Gasse|Ufer)) \d{1,4}"
    + _AFTER_HOUSE
    + _POSTCODE_NOT_YEAR
    + r"(?: [A-Z]{2})? [A-ZÄÖÜÅØÆ]"
)
# An Indian address: a flat, house, plot or door number (or a block's letter and the flat: "B-704"), up to six
# comma-separated parts, and the six-digit PIN code ("Flat No. 302, Sai Krupa Apartments, 5th Cross, Malleshwaram,
# Bengaluru – 560003"); "#" may stand for the number ("#402, 4th Floor, ..., Bengaluru 560011").
_IN_HOUSE = ("Flat", "House", "Door", "Plot", "Shop")
IN_ADDRESS = re.compile(
    rf"(?:\b(?:(?:{'|'.join(_IN_HOUSE)})(?: No\.?)?|No\.|[A-Z]-(?=\d))|(?<![\w#])#) ?\d{{1,5}}[A-Z]?(?:/\d{{1,5}})?,"
    r"(?:[^,\n]{1,40},){1,6}"
    r"[^,\n\d]{0,40}?[A-Z][A-Za-z]+(?: ?[–\-:])? ?[1-9]\d{5}(?!\d)"  # the PIN after its city or state
)
# Its number's first digit after every word that may come right before it, with or without a space ("Flat3", "House
# No5", "No. 45"): fixed-width lookbehinds, so the need stays digit-led.
_IN_ADDRESS_NEEDS = (
    r"\d(?:"
    + "|".join(rf"(?<={re.escape(w)}{s}\d)" for w in (*_IN_HOUSE, "No", "No.") for s in ("", " "))
    + r"|(?<=\b[A-Z]-\d)\d{0,4}[A-Z]?(?:/\d{1,5})?,"  # a block's letter: "B-704," ("COVID-19" is no flat)
    + r"|(?<=#\d)|(?<=# \d))"  # a flat's number after "#": "#402, 4th Floor, ..."
)
_UPPER = "A-ZĐÀÁẢÃẠĂẮẰẲẴẶÂẤẦẨẪẬÈÉẺẼẸÊẾỀỂỄỆÌÍỈĨỊÒÓỎÕỌÔỐỒỔỖỘƠỚỜỞỠỢÙÚỦŨỤƯỨỪỬỮỰỲÝỶỸỴ"  # Vietnamese capitals only
_VI_NAME = rf"[{_UPPER}][\wÀ-ỹ]*(?: [{_UPPER}0-9][\wÀ-ỹ]*){{0,4}}"
_HOUSE = r"\d{1,5}[A-Za-z]?(?:/\d{1,5}[A-Za-z]?)*,? "
_LANES = ("số nhà", "nhà số", "ngõ", "ngách", "hẻm", "kiệt")
_WARDS = r"(?i:phường|p\.|xã|quận|q\.|thị trấn|tt\.)"
_HAMLET_UP = r"(?i:thôn|xóm|ấp|khu phố|xã|phường|thị trấn|p\.|x\.)"
# Where a ward-led street may also end: before a city ("165 Cầu Giấy, Hà Nội").
_WARDS_OR_CITY = (
    rf"(?:{_WARDS}(?:\s|(?<=\.)\d)|(?i:tp\.|thành phố|hà nội|tp\.? ?hcm|sài gòn|đà nẵng|hải phòng|cần thơ)\b)"
)
VI_ADDRESS = re.compile(
    rf"\b(?i:{'|'.join(_LANES)}) {_HOUSE}(?:(?i:đường|phố) )?{_VI_NAME}"
    # "số 08 NQ-TW" (a resolution) is not one; "đường số 7" is a street
    rf"|(?i:\bsố )?{_HOUSE}(?i:đường|phố) (?:{_VI_NAME}|(?i:số) \d{{1,3}}[A-Z]?\b|\d\d? (?i:tháng) \d\d?\b)"
    # (not a date: "ngày 12/4, TAND huyện", "8/10/2023, T. điều khiển", "tháng 12/1953, Bộ Chính trị")
    rf"|\b(?<!/)(?<!(?i:ngày) )(?!(?:\d\d?/)?\d\d?/(?:19|20)\d\d\b)\d{{1,5}}[A-Za-z]?/\d{{1,5}}[A-Za-z]?(?:/\d{{1,5}})*,? {_VI_NAME}"
    # a number and a street name without đường, before its ward or district: "142 Nam Kỳ Khởi Nghĩa, Phường Bến Thành"
    rf"|\b\d{{1,5}}[A-Za-z]? (?>{_VI_NAME})(?=, {_WARDS_OR_CITY})"  # atomic: the name runs to the comma or fails
    # a numbered hamlet or residents' group before the unit above it: "xóm 3, xã Quảng Hòa", "Tổ 5, khu phố 2"
    rf"|\b(?i:xóm|thôn|tổ dân phố|tổ|ấp|khu phố|khu vực|khối|bản) \d{{1,3}}[A-Z]?(?=, {_HAMLET_UP}\s)"
)
# A named hamlet before its commune ("Thôn Đồng Xuân, xã Đại Đồng"): a village's few hundred houses, as a numbered
# one; only the hamlet goes. Its own format, so its need (led by "xã", not a digit) stays out of VI_ADDRESS's.
VI_HAMLET = re.compile(rf"\b(?i:xóm|thôn|ấp|bản) (?>{_VI_NAME})(?= ?, (?i:xã) [{_UPPER}])")  # " ," as OCR writes it
# A flat in a block: "P.1206 tòa CT2", "căn hộ 1206 toà nhà B".
VI_APARTMENT = re.compile(r"(?<!\w)(?i:p\.|phòng|căn hộ|căn) ?\d{2,4}[A-Z]?(?: ?,)? (?i:tòa|toà)(?: (?i:nhà))? [\w\-]+")
# A house number's first digit after a lane word (digit-led: tried at digits only), or its end before đường/phố, or
# a slashed number before a capital.
_VI_ADDRESS_NEEDS = (
    "\\d(?:"
    + "|".join(f"(?<=(?i:{lane}) \\d)" for lane in _LANES)
    + ")"
    + rf"|\d[A-Za-z]?,? (?i:đường|phố) |\d[A-Za-z]?/\d{{1,5}}[A-Za-z]?(?:/\d{{1,5}})*,? [{_UPPER}]"
    # the ward-led form digit-led too (its street holds no comma): a need led by ", " costs 3x the others together
    + rf"|\d[A-Za-z]? [{_UPPER}][^\n,]*, {_WARDS_OR_CITY}|\d[A-Z]?, {_HAMLET_UP}\s"
)

# Vietnamese number plates: a province code (2 digits), a series letter and maybe a digit, then 4-5 digits, written
# 51F-123.45, 30A-12345 or 59-X1 234.56. They name a vehicle's registered owner, and classifieds print them.
# A dash or space after the series, or the dot in the number, is what tells one from a model number ("65UK6300").
VN_PLATE = re.compile(r"(?<![\w.\-])\d\d-?[A-Z][A-Z\d]?(?:[\- ]\d{3}\.?\d{1,2}|\d{3}\.\d{2})" + _END)

# 13-19 digits, grouped by spaces or dashes; Luhn decides (presidio's own card pattern misses the 2221-2720 range).
CARD = re.compile(r"(?<![\w.\-])\d(?:[ \-]?\d){12,18}(?![\w]|[.\-]\d)")
_CARD_NEEDS = r"\d(?:[ \-]?\d){12}"
_SSN_NEEDS = r"\d(?:[ .\-]?\d){8}"
_NRIC_NEEDS = r"\d(?:\d{6}[A-Z])(?<=[STFGM]\d{7}[A-Z])"

# What presidio's own recognizers need (their regexes in presidio_analyzer/predefined_recognizers): an "@"; a dotted
# quad or two colons with at most 4 hex digits between (every IPv6 form, "::" included); 13 digits with single
# separators; an IBAN head; 9 digits with single separators (SSN). By recognizer class: (the entity it finds, needs).
PRESIDIO_NEEDS: dict[str, tuple[str, str]] = {
    "EmailRecognizer": ("EMAIL_ADDRESS", r"@"),
    "IpRecognizer": ("IP_ADDRESS", r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"),
    "CreditCardRecognizer": ("CREDIT_CARD", _CARD_NEEDS),
    "IbanRecognizer": ("IBAN_CODE", r"\d(?<=[A-Z]{2}\d)\d[ \-]?[A-Z0-9]{4}"),  # digit-led: capitals are commoner
    "UsSsnRecognizer": ("US_SSN", _SSN_NEEDS),
}


def luhn(number: str) -> bool:
    """Whether the digits of number pass the Luhn checksum (a random number does 1 time in 10)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def card_number(number: str) -> bool:
    """An issuer's first digit (2-6: Mastercard, Amex, Visa, Discover, UnionPay...) or Vietnam's domestic Napas
    prefix (9704), and a valid Luhn checksum."""
    digits = re.sub(r"\D", "", number)
    return (digits[0] in "23456" or digits.startswith("9704")) and luhn(digits)


def _digits(number: str) -> list[int]:
    return [int(c) for c in number if c.isdigit()]


def au_tfn(number: str) -> bool:
    """An Australian tax file number's checksum: its digits times fixed weights, a multiple of 11."""
    digits = _digits(number)
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10) if len(digits) == 9 else (10, 7, 8, 4, 6, 3, 5, 1)
    return len(digits) == len(weights) and sum(d * w for d, w in zip(digits, weights)) % 11 == 0


def za_id(number: str) -> bool:
    """A South African identity number: a birth date (YYMMDD), the citizenship digit (0-2) and a valid Luhn checksum."""
    month, day = int(number[2:4]), int(number[4:6])
    return 1 <= month <= 12 and 1 <= day <= 31 and number[10] in "012" and luhn(number)


_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}")


def personal_id(value: str) -> bool:
    """An id after a personal-id label: 6-24 characters, 4 digits or more, not a date."""
    return 6 <= len(value) <= 24 and sum(c.isdigit() for c in value) >= 4 and not _DATE.fullmatch(value)


def my_nric(number: str) -> bool:
    """A MyKad number: a birth date (YYMMDD) first."""
    month, day = int(number[2:4]), int(number[4:6])
    return 1 <= month <= 12 and 1 <= day <= 31


def spelled_phone(written: str) -> bool:
    """10 or 11 digits, three or more of them words (a digit word is one digit)."""
    tokens = re.findall(r"\d+|[^\W\d_]+", written)
    words = [t for t in tokens if not t.isdigit()]
    return len(words) >= 3 and sum(len(t) if t.isdigit() else 1 for t in tokens) in (10, 11)


def sg_nric(number: str) -> bool:
    """A Singapore NRIC or FIN's check letter: its digits times 2, 7, 6, 5, 4, 3, 2 (plus 4 for T and G, 3 for M),
    modulo 11, in its series' table."""
    total = sum(d * w for d, w in zip(_digits(number), (2, 7, 6, 5, 4, 3, 2))) + {"T": 4, "G": 4, "M": 3}.get(
        number[0], 0
    )
    table = {"S": "JZIHGFEDCBA", "T": "JZIHGFEDCBA", "F": "XWUTRQPNMLK", "G": "XWUTRQPNMLK", "M": "KLJNPQRTUWX"}
    return number[-1] == table[number[0]][total % 11 if number[0] != "M" else 10 - total % 11]


def _valid_intl(number: str) -> bool:
    """A number valid for its country; written with a "+", one of a possible length is enough (a "+" and grouped
    digits are rarely anything but a phone, and reserved or new ranges are not "valid": +44 7700 900123)."""
    import phonenumbers  # 0.3 s: imported by the first international number seen

    try:
        parsed = phonenumbers.parse("+" + number.removeprefix("+").removeprefix("00"), None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) or (number.startswith("+") and phonenumbers.is_possible_number(parsed))


def _public_suffix(written: str) -> bool:
    """Whether a de-obfuscated e-mail's domain ends in a real public suffix (tldextract's bundled list, offline)."""
    import tldextract

    domain = re.sub(_DOT + "| dot ", ".", re.split(_AT + "| at ", written)[-1])
    parts = tldextract.extract(domain)
    return bool(parts.suffix and parts.domain)


class Spec(NamedTuple):
    """One of sieve's recognizers: its name, the entity it finds, its formats, its score and an optional validator of
    each match."""

    name: str
    entity: str
    formats: list[Format]
    score: float = 0.9
    validate: Callable[[str], bool] | None = None


OURS = [
    Spec(
        "vn_us_phone",
        "PHONE_NUMBER",
        [
            Format(VN_PHONE, _PHONE_NEEDS),
            Format(IN_MOBILE, _PHONE_NEEDS),
            Format(VN_SPACED_MOBILE, _PHONE_NEEDS),
            Format(US_PHONE, _PHONE_NEEDS),
            # its label and a digit within the 90 characters a remark and a verb may take, lowercase: eight grouped
            # digits alone are years and dates ("2003 - 2007", "07 / 01 / 1998"), and "phone" alone is a word
            Format(
                LABELLED_PHONE,
                r"[^\w](?:" + "|".join(_PHONE_LABELS) + r")\b[^\n]{0,90}?\d",
                lowered=True,
            ),
            Format(SIGNED_PHONE, f"[{_PHONE_SIGNS}]"),
            Format(VERB_PHONE, _PHONE_NEEDS),  # ten digits at least: the numbers' own need, no cost of its own
        ],
    ),
    Spec(
        "spelled_phone",
        "PHONE_NUMBER",
        WORD_PHONES,
        validate=spelled_phone,
    ),
    Spec(
        "intl_phone",
        "PHONE_NUMBER",
        [Format(INTL_PHONE, r"\+[1-9]|00(?<![\w+]00)[1-9]")],
        validate=_valid_intl,
    ),
    Spec("luhn_card", "CREDIT_CARD", [Format(CARD, _CARD_NEEDS)], validate=card_number),
    Spec("vn_cccd", "VN_CCCD", [Format(VN_CCCD, _SSN_NEEDS)]),  # 12 digits hold 9
    Spec("vn_cmnd", "VN_CMND", [Format(VN_CMND, _SSN_NEEDS)]),
    Spec("passport", "PASSPORT", [Format(PASSPORT, r"\d\d{5}")]),
    Spec("ca_sin", "CA_SIN", [Format(CA_SIN, r"\d(?:\d\d[ \-]?\d{3}[ \-]?\d{3})")], validate=luhn),
    Spec(
        "uk_nino",
        "UK_NINO",
        [Format(UK_NINO, r"\d\d ?\d\d ?\d\d ?[A-D]"), Format(UK_NINO_SPACED, r"\d\d ?\d\d ?\d\d ?[A-D]")],
    ),
    Spec("in_pan", "IN_PAN", [Format(IN_PAN, r"\d(?:\d{3}[A-Z])(?<=[A-Z]\d{4}[A-Z])")]),
    Spec("in_aadhaar", "IN_AADHAAR", [Format(IN_AADHAAR, r"\d(?:\d{3} ?\d{4} ?\d{4})")]),
    Spec("au_tfn", "AU_TFN", [Format(AU_TFN, r"\d(?:\d\d ?\d{3} ?\d\d)")], validate=au_tfn),
    Spec("ie_ppsn", "IE_PPSN", [Format(IE_PPSN, r"\d(?:\d{6}[A-W])")]),  # its label is evidence enough
    Spec("za_id", "ZA_ID", [Format(ZA_ID, r"\d\d{12}")], validate=za_id),
    Spec("sg_nric", "SG_NRIC", [Format(SG_NRIC, _NRIC_NEEDS)], validate=sg_nric),
    Spec("sg_nric_named", "SG_NRIC", [Format(SG_NRIC_NAMED, _NRIC_NEEDS)]),
    Spec(
        "personal_id",
        "PERSONAL_ID",
        [Format(PERSONAL_ID, _PERSONAL_ID_LABEL_LOWER, lowered=True)],
        validate=personal_id,
    ),
    Spec("my_nric", "MY_NRIC", [Format(MY_NRIC, r"\d(?:\d{5}-\d\d-\d{4})")], validate=my_nric),
    Spec(
        "driver_license",
        "DRIVER_LICENSE",
        # "dl(?<=\bdl)\b" is "\bdl\b" with the boundary checked after the "d": a need led by a letter lets the search
        # skip ahead to the letters that can start it, which a leading \b prevents (4x the time)
        [Format(DRIVER_LICENSE, r"licen[cs]e|giấy phép lái xe|bằng lái|gplx|dl(?<=\bdl)\b", lowered=True)],
    ),
    Spec("vn_tax_code", "VN_TAX_CODE", [Format(VN_TAX_CODE, r"\d\d{9}")]),
    Spec(
        "bank_account",
        "BANK_ACCOUNT",
        [
            Format(BANK_ACCOUNT, _ACCOUNT_NEEDS),
            Format(BANK_ACCOUNT_DOTTED, r"\d(?:[ .\-]?\d){5}"),
            Format(ACCOUNT_BEFORE_BANK, _ACCOUNT_NEEDS),
            Format(SORT_CODE, _ACCOUNT_NEEDS),
            Format(ACCOUNT_WORD, _ACCOUNT_NEEDS),
        ],
    ),
    Spec("credential_url", "CREDENTIAL_URL", [Format(CREDENTIAL_URL, _URL_LOGIN + "|" + _QUERY_KEYS)]),
    Spec("secret", "SECRET", SECRETS),
    Spec(
        "obfuscated_email",
        "EMAIL_ADDRESS",
        [Format(OBFUSCATED_EMAIL, _AT_NEEDS), Format(SPELLED_EMAIL, r" dot ")],
        validate=_public_suffix,
    ),
    Spec(
        "address",
        "ADDRESS",
        [
            Format(EN_ADDRESS, r"\d[A-Z]? [A-Z0-9][\w.]*(?: [\w.]+){0,4} (?:" + _STREETS.replace(r"\.?", "") + ")"),
            Format(US_CITY_ADDRESS, r"\d(?<=[A-Z]{2} \d)\d{4}"),
            Format(VI_ADDRESS, _VI_ADDRESS_NEEDS),
            # every need of an entity digit-led: one letter-led alternative makes the joined search try every letter
            Format(UK_POSTCODE, r"\d[A-Z]? \d[A-Z]{2}"),
            Format(NAME_FIRST_ADDRESS, r"\d" + _AFTER_HOUSE + _POSTCODE_NOT_YEAR + " "),
            Format(PO_BOX, r"\d(?<=Box \d)"),
            Format(
                EIRCODE, r"Co\. [A-Z]|County [A-Z]|Dublin|(?i:eircode)"
            ),  # its place: four-character groups are common
            Format(
                EU_ADDRESS, r"\d,? (?i:rue|avenue|boulevard|chemin|allée|impasse|quai|calle|viale|piazza|jalan|lorong) "
            ),
            Format(IN_ADDRESS, _IN_ADDRESS_NEEDS),
            Format(VI_APARTMENT, r"\d[A-Z]?(?: ?,)? (?i:tòa|toà) "),
            Format(VI_HAMLET, rf", (?i:xã) [{_UPPER}]"),  # searched alone: joined to the digit-led needs, 6x their time
        ],
        score=0.6,
    ),
    Spec(
        "vn_plate",
        "VN_LICENSE_PLATE",
        [Format(VN_PLATE, r"\d\d-?[A-Z][A-Z\d]?(?:[\- ]\d{3}|\d{3}\.\d)")],  # not "32GB": 7% of real pages
    ),
]


# Six digits in a row, each gap at most one space, dot or dash: every need of these entities holds it (a card, an id
# or an account of six digits or more), so a text without it (nine English pages in ten) skips their fifteen searches
# (0.035 ms each on a 4,000-character page) after this one. tests/test_pii.py checks their needs are all led by a digit
# and the prefilter's property test that results do not change.
SIX_DIGITS = re.compile(r"\d(?:[ .\-]?\d){5}")
SIX_DIGIT_ENTITIES = frozenset(
    {
        "CREDIT_CARD",
        "VN_CCCD",
        "VN_CMND",
        "US_SSN",
        "PASSPORT",
        "CA_SIN",
        "UK_NINO",
        "IN_AADHAAR",
        "AU_TFN",
        "IE_PPSN",
        "ZA_ID",
        "SG_NRIC",
        "MY_NRIC",
        "VN_TAX_CODE",
        "BANK_ACCOUNT",
    }
)


def entity_needs() -> dict[str, list[tuple[str, bool]]]:
    """Per entity, what any text one of its recognizers (sieve's or presidio's) finds something in contains, as
    (regex, whether it is searched in the lowercased text): the needs led by a digit joined into one regex, each
    other need a regex of its own. A search for a literal or a rare first character ("hooks.slack", ", xã") skips ahead
    fast alone, but joined to digit-led alternatives it makes the search try them at every character (an address need
    led by "ã" cost 6x the digit-led ones together)."""
    needs: dict[str, list[tuple[str, bool]]] = {}
    for spec in OURS:
        needs.setdefault(spec.entity, []).extend((f.needs, f.lowered) for f in spec.formats)
    for entity, need in PRESIDIO_NEEDS.values():
        needs.setdefault(entity, []).append((need, False))
    out = {}
    for entity, alts in needs.items():
        alts = sorted(set(alts))
        digit_led = [a for a, lowered in alts if a.startswith(r"\d") and not lowered]
        others = [(a, lowered) for a, lowered in alts if lowered or not a.startswith(r"\d")]
        out[entity] = ([("|".join(digit_led), False)] if digit_led else []) + others
    return out
