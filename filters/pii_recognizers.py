"""Presidio recognizers for the PII formats presidio does not ship: Vietnamese and US phones, CCCD/CMND ids in
context, URLs carrying credentials, street addresses. Regex-only, so they run offline without an NER model."""
from __future__ import annotations

import re
from collections.abc import Callable

import phonenumbers
from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from sieve.filters.pii import SECRET_KEYS

_SEP = r"[ .\-]?"  # one optional space, dot or dash between digits: 0912 345 678, 0912.345.678, 0912-345-678
_START = r"(?<![\w+.\-/])"  # not inside a longer number, word, decimal or path
_END = r"(?![\w]|[.\-/]\d)"

# Vietnamese mobiles (03x/05x/07x/08x/09x, 10 digits) and landlines (02x area codes, 11 digits), with 0, +84 or 0084.
_VN_PREFIX = r"(?:\(?\+84\)?[ .\-]?|0084[ .\-]?|\(?0)"
VN_PHONE = re.compile(_START + _VN_PREFIX + r"(?:[35789]\)?" + _SEP + r"\d(?:" + _SEP + r"\d){7}"
                      + r"|2\)?" + _SEP + r"\d(?:\)?" + _SEP + r"\d){8})" + _END)
# US numbers need separators or parentheses: ten bare digits are more often an id than a phone.
US_PHONE = re.compile(_START + r"(?:\+?1[ .\-])?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .\-])[2-9]\d\d[ .\-]\d{4}" + _END)
# Other countries: a "+" and 8-15 digits; phonenumbers checks that the number is valid for its country.
INTL_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .\-]?\(?\d{1,5}\)?){2,6}" + _END)

# A CCCD (12 digits) or CMND (9 digits) is an id only after a context word; the digits may be grouped.
_ID_CONTEXT = (r"(?i:\b(?:cccd|cmnd|cmtnd|căn cước(?: công dân)?|can cuoc(?: cong dan)?|chứng minh(?: nhân dân| thư)?"
               r"|chung minh(?: nhan dan| thu)?|số định danh(?: cá nhân)?|so dinh danh))")
VN_CCCD = re.compile(_ID_CONTEXT + r"[^\d\n]{0,30}?(?P<id>\d(?:[ .\-]?\d){11})(?![ .\-]?\d)")
VN_CMND = re.compile(_ID_CONTEXT + r"[^\d\n]{0,30}?(?P<id>\d(?:[ .\-]?\d){8})(?![ .\-]?\d)")

# user:password@ in the authority, or a query/fragment key that carries a secret.
CREDENTIAL_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^\s/?#@:]+:[^\s/?#@]+@\S+|[^\s?#]+[?#]\S*?(?i:\b(?:"
                            + SECRET_KEYS + r"))=[^\s&#]{4,}\S*)")

# A house number and a street name: "1600 Pennsylvania Avenue", "42 W 34th St"; Vietnamese "số 12 đường Lê Lợi",
# "45/3 Nguyễn Trãi, phường 7", "ngõ 12 phố Huế". Only the number and the street go: a city or district alone is not PII.
_UPPER = "A-ZĐÀÁẢÃẠĂẮẰẲẴẶÂẤẦẨẪẬÈÉẺẼẸÊẾỀỂỄỆÌÍỈĨỊÒÓỎÕỌÔỐỒỔỖỘƠỚỜỞỠỢÙÚỦŨỤƯỨỪỬỮỰỲÝỶỸỴ"  # Vietnamese capitals only
_VI_NAME = rf"[{_UPPER}][\wÀ-ỹ]*(?: [{_UPPER}0-9][\wÀ-ỹ]*){{0,4}}"
EN_ADDRESS = re.compile(r"\b\d{1,6}[A-Z]?(?: (?:[NSEW]\.?|North|South|East|West))?(?: [A-Z0-9][a-z0-9]*){1,4} "
                        r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?|Court|Ct\.?"
                        r"|Place|Pl\.?|Terrace|Parkway|Pkwy\.?|Highway|Hwy\.?|Way)(?![\w])"
                        r"(?:,? (?:Apt\.?|Suite|Unit|#) ?\w+)?")
_HOUSE = r"\d{1,5}[A-Za-z]?(?:/\d{1,5}[A-Za-z]?)*,? "
VI_ADDRESS = re.compile(rf"(?i:\b(?:số nhà|nhà số|ngõ|ngách|hẻm|kiệt)) {_HOUSE}(?:(?i:đường|phố) )?{_VI_NAME}"
                        rf"|(?i:\bsố )?{_HOUSE}(?i:đường|phố) {_VI_NAME}"  # "số 08 NQ-TW" (a resolution) is not one
                        rf"|\b\d{{1,5}}[A-Za-z]?/\d{{1,5}}[A-Za-z]?(?:/\d{{1,5}})*,? {_VI_NAME}")


# 13-19 digits, grouped by spaces or dashes; Luhn decides (presidio's own card pattern misses the 2221-2720 range).
CARD = re.compile(r"(?<![\w.\-])\d(?:[ \-]?\d){12,18}(?![\w]|[.\-]\d)")


def luhn(number: str) -> bool:
    """Whether the digits of number pass the Luhn checksum (a random number does 1 time in 10)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def card_number(number: str) -> bool:
    """An issuer's first digit (2-6: Mastercard, Amex, Visa, Discover, UnionPay...) and a valid Luhn checksum."""
    return number[0] in "23456" and luhn(number)


def _valid_intl(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


class RegexRecognizer(LocalRecognizer):
    """One entity found by compiled regexes (the span of a named group "id" when the regex has one), each match
    optionally checked by a validator; context is written into the regex, so no NLP model is needed."""

    def __init__(self, name: str, entity: str, regexes: list[re.Pattern], language: str, score: float = 0.9,
                 validate: Callable[[str], bool] | None = None) -> None:
        self.regexes, self.score, self.validate = regexes, score, validate
        super().__init__(supported_entities=[entity], name=f"{name}_{language}", supported_language=language)

    def load(self) -> None:
        """Nothing to load: the regexes are compiled at import."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = []
        for regex in self.regexes:
            for m in regex.finditer(text):
                group = "id" if "id" in regex.groupindex else 0
                if self.validate is None or self.validate(m.group(group)):
                    results.append(RecognizerResult(self.supported_entities[0], m.start(group), m.end(group), self.score))
        return results


def custom_recognizers(language: str) -> list[RegexRecognizer]:
    """The recognizers presidio lacks, for one presidio language. Every format is offered to every language (an
    English page may quote a Vietnamese phone); the config's entity lists choose which run."""
    return [
        RegexRecognizer("vn_us_phone", "PHONE_NUMBER", [VN_PHONE, US_PHONE], language),
        RegexRecognizer("intl_phone", "PHONE_NUMBER", [INTL_PHONE], language, validate=_valid_intl),
        RegexRecognizer("luhn_card", "CREDIT_CARD", [CARD], language, validate=card_number),
        RegexRecognizer("vn_cccd", "VN_CCCD", [VN_CCCD], language),
        RegexRecognizer("vn_cmnd", "VN_CMND", [VN_CMND], language),
        RegexRecognizer("credential_url", "CREDENTIAL_URL", [CREDENTIAL_URL], language),
        RegexRecognizer("address", "ADDRESS", [EN_ADDRESS, VI_ADDRESS], language, score=0.6),
    ]
