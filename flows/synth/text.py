"""Article text: slot filling, article assembly, near-duplicate edits and word-shingle Jaccard."""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass, field, replace

from sieve.flows.synth import pii
from sieve.flows.synth.banks import Bank

# Slots holding parts of person names; they are combined into {person}, {person2}, {person3}.
_NAME_PARTS = ("given", "middle", "surname")
_SEPARATORS = {  # (thousands, decimal) per language
    "en": (",", "."),
    "vi": (".", ","),
    "fr": (" ", ","),
    "de": (".", ","),
    "es": (".", ","),
}
_WORD = re.compile(r"\w+")
_ALTERNATIVES = re.compile(r"\[([^\[\]]*)\]")  # "[rose|climbed|went up]": one option chosen per use
_GAPS = re.compile(r" +(?=[ ,.])")  # left behind by an empty option
# Share of an article's sentences drawn from its own topic (the rest from any topic, its own included): two
# same-topic articles then share few templates, which with the banks' [a|b] variation keeps their word-5-gram
# Jaccard median near 0.03 (3000-doc corpus; 0.17 with the earlier 7/8 share and sparser variation).
TOPIC_SHARE = 0.4


def _group(number: int, sep: str) -> str:
    return f"{number:,}".replace(",", sep)


def _numeric(key: str, rng: random.Random, lang: str) -> str | None:
    """Fresh number for a numeric slot, formatted for the language; None if key is not numeric."""
    thousands, decimal = _SEPARATORS[lang]
    if key == "n":
        return str(rng.randint(2, 60))
    if key == "num":
        return _group(rng.randint(100, 9_999), thousands)
    if key == "big":
        return _group(rng.randint(10_000, 2_000_000), thousands)
    if key == "pct":
        whole = rng.randint(2, 95)
        return str(whole) if rng.random() < 0.5 else f"{whole}{decimal}{rng.randint(1, 9)}"
    if key == "year":
        return str(rng.randint(2012, 2024))
    if key == "day":
        return str(rng.randint(1, 28))
    if key == "month":
        return str(rng.randint(1, 12))
    if key == "score":
        winner, loser = rng.randint(1, 5), rng.randint(0, 4)
        return f"{max(winner, loser + 1)}-{loser}"
    return None


def person_name(bank: Bank, rng: random.Random) -> str:
    """A person's name in the language's order (family name first when the bank has middle names)."""
    given = rng.choice(bank.slots["given"])
    surname = rng.choice(bank.slots["surname"])
    if "middle" in bank.slots:
        return f"{surname} {rng.choice(bank.slots['middle'])} {given}"
    return f"{given} {surname}"


class Slots(dict):
    """Values for {placeholders}: a per-document cast (names, places), fresh numbers and PII on every use.

    Keeping the cast fixed per document keeps articles coherent; numbers and PII vary per sentence.
    Cast members are drawn on first use; {city2} is a different city than {city}.
    Every PII value produced is appended to `planted` as {"type": ..., "value": ...}.
    """

    def __init__(self, bank: Bank, rng: random.Random):
        super().__init__()
        self.bank = bank
        self.rng = rng
        self.planted: list[dict[str, str]] = []

    def __missing__(self, key: str) -> str:
        number = _numeric(key, self.rng, self.bank.lang)
        if number is not None:
            return number
        if key in pii.GENERATORS:
            pii_type, value = pii.generate(key, self.rng, self["person"])
            self.planted.append({"type": pii_type, "value": value})
            return value
        self[key] = self._cast(key)
        return self[key]

    def _cast(self, key: str) -> str:
        if key in ("person", "person2", "person3"):
            return person_name(self.bank, self.rng)
        first = key.removesuffix("2")
        values = self.bank.slots.get(first)
        if values is None or first.startswith("ui_") or first in _NAME_PARTS:
            raise KeyError(f"unknown slot {{{key}}} in {self.bank.lang} bank")
        if first == key or len(values) == 1:
            return self.rng.choice(values)
        return self.rng.choice([v for v in values if v != self[first]])

    def fill(self, template: str) -> str:
        """Pick one option per [a|b] group, then fill placeholders; the sentence gets a capital first letter.

        An empty option ("[also |]") leaves the words out; doubled spaces are closed up.
        """
        chosen = "".join(part if isinstance(part, str) else self.rng.choice(part) for part in _parts(template))
        text = chosen.format_map(self)
        if "  " in text or " ," in text or " ." in text:
            text = _GAPS.sub("", text)
        return text[:1].upper() + text[1:]


@functools.cache
def _parts(template: str) -> tuple[str | tuple[str, ...], ...]:
    """A template split once into literal text and option tuples, so filling needs no regex."""
    pieces = _ALTERNATIVES.split(template)  # literal, options, literal, options, ...
    return tuple(piece if i % 2 == 0 else tuple(piece.split("|")) for i, piece in enumerate(pieces))


@dataclass
class Article:
    """An article's text; `protected` sentences (PII, toxic) survive near-duplicate edits unchanged."""

    lang: str
    topic: str
    title: str
    paragraphs: list[list[str]]
    pii: list[dict[str, str]] = field(default_factory=list)
    toxic_passages: list[str] = field(default_factory=list)
    boilerplate: list[str] = field(default_factory=list)
    protected: frozenset[str] = frozenset()

    @property
    def body_text(self) -> str:
        """Title then one line per paragraph: the ground truth for extraction."""
        return "\n".join([self.title, *(" ".join(p) for p in self.paragraphs)])


def _sample_sentences(bank: Bank, topic: str, count: int, rng: random.Random) -> list[str]:
    """`count` distinct templates in random order: a TOPIC_SHARE from `topic`, the rest from any topic."""
    picked = rng.sample(bank.sentences[topic], min(len(bank.sentences[topic]), int(count * TOPIC_SHARE)))
    while len(picked) < count:
        template = rng.choice(bank.sentences[rng.choice(bank.topics)])
        if template not in picked:
            picked.append(template)
    rng.shuffle(picked)
    return picked


def build_article(bank: Bank, rng: random.Random, with_pii: bool, with_toxic: bool) -> Article:
    """A title plus 3-8 paragraphs of 2-6 sentences on one topic, optionally with planted PII / toxic text."""
    topic = rng.choice(bank.topics)
    slots = Slots(bank, rng)
    sizes = [rng.randint(2, 6) for _ in range(rng.randint(3, 8))]
    templates = iter(_sample_sentences(bank, topic, sum(sizes), rng))
    paragraphs = [[slots.fill(next(templates)) for _ in range(size)] for size in sizes]
    article = Article(bank.lang, topic, slots.fill(rng.choice(bank.titles[topic])), paragraphs)
    if with_pii:
        _plant_pii(article, bank, slots, rng)
    if with_toxic:
        _plant_toxic(article, bank, slots, rng)
    return article


def _plant_pii(article: Article, bank: Bank, slots: Slots, rng: random.Random) -> None:
    sentences = [slots.fill(t) for t in rng.sample(bank.sentences["_pii"], rng.randint(1, 3))]
    for sentence in sentences:
        paragraph = rng.choice(article.paragraphs)
        paragraph.insert(rng.randint(0, len(paragraph)), sentence)
    article.pii = slots.planted
    article.protected |= frozenset(sentences)


def _plant_toxic(article: Article, bank: Bank, slots: Slots, rng: random.Random) -> None:
    passage = " ".join(slots.fill(t) for t in rng.sample(bank.sentences["_toxic"], rng.randint(2, 3)))
    article.paragraphs.insert(rng.randint(1, len(article.paragraphs)), [passage])
    article.toxic_passages = [passage]
    article.protected |= {passage}


def paste_boilerplate(article: Article, lines: tuple[str, ...], rng: random.Random) -> Article:
    """The article with a site's boilerplate lines pasted in as paragraphs of their own, after the first paragraph."""
    paragraphs = [list(p) for p in article.paragraphs]
    for line in lines:
        paragraphs.insert(rng.randint(1, len(paragraphs)), [line])
    return replace(article, paragraphs=paragraphs, boilerplate=list(lines), protected=article.protected | set(lines))


def words(text: str) -> list[str]:
    """Lower-cased word tokens (Unicode \\w+ runs), the tokenization used for shingles."""
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word n-gram set of a text (the whole text as one shingle when shorter than n words)."""
    return _ngrams(words(text), n)


def _ngrams(tokens: list[str], n: int = 5) -> set[tuple[str, ...]]:
    if len(tokens) < n:
        return {tuple(tokens)}
    return set(zip(*(tokens[i:] for i in range(n))))


def jaccard(a: set, b: set) -> float:
    """Jaccard similarity of two sets."""
    common = len(a & b)
    return common / (len(a) + len(b) - common) if a or b else 1.0


# Targets span both sides of the dedup stage's 0.8 threshold.
NEAR_DUP_TARGET = (0.55, 0.97)
NEAR_DUP_MIN = 0.53
NEAR_DUP_MAX = 0.98


def near_duplicate(original: Article, bank: Bank, rng: random.Random) -> tuple[Article, float]:
    """Edit sentences/words of an article until its 5-gram Jaccard vs the original drops into a target.

    The target is drawn from NEAR_DUP_TARGET; edits that would push similarity below NEAR_DUP_MIN are undone.
    """
    # No token spans two sentences, so body_text's tokens are its sentences' tokens; each sentence is tokenized once.
    tokenize = functools.cache(words)

    def article_shingles(article: Article) -> set[tuple[str, ...]]:
        return _ngrams([t for s in (article.title, *itertools.chain(*article.paragraphs)) for t in tokenize(s)])

    base = article_shingles(original)
    target = rng.uniform(*NEAR_DUP_TARGET)
    slots = Slots(bank, rng)
    current, similarity = original, 1.0
    for _ in range(1000):
        candidate = _edit(current, bank, slots, rng, small=similarity - target < 0.04)
        score = jaccard(base, article_shingles(candidate))
        if score < NEAR_DUP_MIN:
            continue
        current, similarity = candidate, score
        if similarity <= target:
            break
    if not NEAR_DUP_MIN <= similarity <= NEAR_DUP_MAX:
        raise RuntimeError(f"near-duplicate edit did not converge (Jaccard {similarity:.3f})")
    return current, round(similarity, 4)


def _edit(article: Article, bank: Bank, slots: Slots, rng: random.Random, small: bool) -> Article:
    """One random edit on unprotected sentences: replace a word, or drop/insert/replace a sentence."""
    paragraphs = [list(p) for p in article.paragraphs]
    spots = [(i, j) for i, p in enumerate(paragraphs) for j, s in enumerate(p) if s not in article.protected]
    i, j = rng.choice(spots)
    action = "word" if small else rng.choice(("word", "word", "drop", "insert", "replace"))
    if action == "drop" and len(paragraphs[i]) > 1:
        del paragraphs[i][j]
    elif action in ("insert", "replace"):
        new = slots.fill(rng.choice(bank.sentences[article.topic]))
        paragraphs[i][j : j + (action == "replace")] = [new]
    else:
        k, m = rng.choice(spots)
        paragraphs[i][j] = _replace_word(paragraphs[i][j], paragraphs[k][m], rng)
    return replace(article, paragraphs=paragraphs)


def _replace_word(sentence: str, donor: str, rng: random.Random) -> str:
    """Swap one word of a sentence for a word of the donor sentence, keeping trailing punctuation."""
    tokens = sentence.split(" ")
    k = rng.randrange(len(tokens))
    core = tokens[k].rstrip(".,;:!?")
    tokens[k] = rng.choice(donor.split(" ")).rstrip(".,;:!?") + tokens[k][len(core) :]
    return " ".join(tokens)
