"""The toxicity stage (filters/toxicity.py): shipped lists, terms counted once, ambiguous terms only with evidence,
allow-list exceptions, the English model, drops on hand-written toxic pages and keeps on hand-written trap pages."""

from __future__ import annotations

import json
import random

import pytest

from sieve.flows.synth.banks import load_bank
from sieve.flows.synth.text import build_article
from sieve.schemas.config import load_config
from sieve.schemas.document import Document
from sieve.transforms.stages import build_filters, toxicity_stage
from sieve.transforms.warc import read_warc
from tests.conftest import DATA, FIFTH_ROUND_ABUSE, HELD_OUT_ROUNDS, write_config

NORMAL_VI = "Hội đồng nhân dân thành phố đã thông qua kế hoạch mở rộng tuyến xe buýt. " * 6
NORMAL_EN = "The council approved the budget on Tuesday after a long debate. " * 15
# Hand-written pages (tests/data/README.md): ordinary pages whose words are on the lists in an everyday meaning, one
# or more per trap class and language, and abusive ones.
PAGES = json.loads((DATA / "traps" / "toxicity.json").read_text(encoding="utf-8"))
TRAPS = [(lang, page) for lang in ("en", "vi") for page in PAGES[lang]["ordinary"]]
TOXIC = [(lang, page) for lang in ("en", "vi") for page in PAGES[lang]["toxic"]]


@pytest.fixture(scope="module")
def stage():
    return toxicity_stage(load_config())


def signals(stage, text, lang):
    doc = Document(warc_file="t", warc_offset=0, text=text, language=lang)
    return stage.annotate(doc), doc


def dropped(stage, texts, lang):
    total = 0
    for text in texts:
        s, doc = signals(stage, text, lang)
        total += stage.decide(doc, s) is not None
    return total


def test_every_trap_class_has_pages_in_both_languages():
    classes = {lang: {page["class"] for page in PAGES[lang]["ordinary"]} for lang in ("en", "vi")}
    assert classes["en"] == classes["vi"] and len(classes["en"]) >= 12
    assert all(len(PAGES[lang]["ordinary"]) >= 30 and len(PAGES[lang]["toxic"]) >= 15 for lang in ("en", "vi"))


@pytest.mark.parametrize("lang,page", TRAPS, ids=[f"{lang}-{p['class']}-{p['title'][:30]}" for lang, p in TRAPS])
def test_ordinary_pages_with_list_words_in_everyday_meanings_are_kept(stage, lang, page):
    s, doc = signals(stage, page["text"], lang)
    assert stage.decide(doc, s) is None, s


@pytest.mark.parametrize("lang,page", TOXIC, ids=[f"{lang}-{p['class']}-{p['title'][:30]}" for lang, p in TOXIC])
def test_hand_written_toxic_pages_are_dropped(stage, lang, page):
    s, doc = signals(stage, page["text"], lang)
    drop = stage.decide(doc, s)
    assert drop is not None and drop.reason == "toxicity", s


@pytest.mark.parametrize(
    "text",
    ["đcm", "dcm", "vcl", "óc chó", "oc cho", "đồ ngu", "khốn nạn", "khon nan", "mất dạy", "ngu như bò", "ngu nhu bo"],
)
def test_vietnamese_terms_with_and_without_diacritics_and_evasions_count_once(stage, text):
    s, _ = signals(stage, f"{NORMAL_VI} Thằng kia {text} thật.", "vi")
    assert s["toxic_words"] == 1


def test_a_phrase_counts_once_and_a_term_inside_it_not_again(stage):
    s, _ = signals(stage, f"{NORMAL_EN} He called him a son of a bitch.", "en")
    assert s["toxic_words"] == 1  # "son of a bitch" holds "bitch": one term
    s, _ = signals(stage, f"{NORMAL_VI} Nó nói ngu như bò.", "vi")
    assert s["toxic_words"] == 1  # three syllables, one term (counting tokens made it 3)


def test_multi_syllable_terms_match_only_as_phrases(stage):
    s, _ = signals(stage, "Con chó nhà tôi thích ăn cơm. Tôi ngủ sớm. Mày thật là đồ óc chó.", "vi")
    assert s["toxic_words"] == 1  # "óc chó" as a phrase; "chó" (dog) and "ngủ" (sleep) alone are not toxic


def test_an_ambiguous_term_alone_does_not_count_but_does_with_evidence(stage):
    alone = f"{NORMAL_EN} The prick of the needle was quick. The stupid thing is that nobody checked the loser."
    assert signals(stage, alone, "en")[0]["toxic_words"] == 0
    aimed = f"{NORMAL_EN} You are a stupid loser."  # a target near it
    assert signals(stage, aimed, "en")[0]["toxic_words"] == 2
    with_toxic = alone + " What a fucking mess."  # an unambiguous term elsewhere in the document
    assert signals(stage, with_toxic, "en")[0]["toxic_words"] == 4
    assert signals(stage, f"{NORMAL_VI} Thước dài 3 dm, môn vl học thứ hai.", "vi")[0]["toxic_words"] == 0
    assert signals(stage, f"{NORMAL_VI} Thằng ngu, mày vl thật.", "vi")[0]["toxic_words"] == 2


def test_toxic_sentence_inside_a_normal_article_is_dropped_in_both_languages(stage):
    en = NORMAL_EN + "You are a pathetic idiot, a worthless moron, shut up."
    vi = NORMAL_VI * 2 + "Câm mồm đi thằng khốn, lũ óc chó chúng mày."
    for text, lang in ((en, "en"), (vi, "vi")):
        s, doc = signals(stage, text, lang)
        drop = stage.decide(doc, s)
        assert drop is not None and drop.reason == "toxicity"
    assert signals(stage, en, "en")[0]["profanity"] > 0.9 and signals(stage, vi, "vi")[0]["profanity"] is None


def test_planted_toxic_documents_are_dropped_and_clean_ones_kept(stage):
    # The synthetic generator wrote both the passages and (by design) the list: circular, a regression check only.
    rng = random.Random(11)
    for lang in ("en", "vi"):
        bank = load_bank(lang)
        toxic = [build_article(bank, rng, with_pii=False, with_toxic=True).body_text for _ in range(150)]
        clean = [build_article(bank, rng, with_pii=False, with_toxic=False).body_text for _ in range(300)]
        assert dropped(stage, toxic, lang) >= 0.9 * len(toxic), lang
        assert dropped(stage, clean, lang) == 0, lang


def test_real_article_pages_are_not_dropped(data_dir):
    cfg = load_config()
    filters = build_filters(cfg)
    upto = [f for f in filters if f.stage in ("response", "extract", "clean_text", "language_id", "normalize")]
    stage = next(f for f in filters if f.stage == "toxicity")
    checked = 0
    for item in read_warc(str(data_dir / "articles-sample.warc.gz"), cfg.read.max_payload_bytes):
        doc = item.doc
        if all(f.decide(doc, f.annotate(doc)) is None for f in upto):
            checked += 1
            assert stage.decide(doc, stage.annotate(doc)) is None, doc.url
    assert checked >= 10


def test_bias_flag_marks_identity_terms_with_negative_terms_and_does_not_drop(stage):
    s, doc = signals(stage, "Immigrants are criminals. Immigrants are dangerous and lazy. The weather was fine.", "en")
    assert s["bias"] and s["identity_sentences"] == 2 and stage.decide(doc, s) is None
    s, _ = signals(
        stage, "Immigrants opened new shops. Immigrants pay taxes. Immigrants are dangerous, a poll claimed.", "en"
    )
    assert not s["bias"]


def test_lists_are_extensible_by_config(tmp_path):
    (tmp_path / "extra.txt").write_text("# site slang\n== toxic\nzorkhead\n", encoding="utf-8")
    cfg = load_config(
        write_config(
            tmp_path / "c.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      en: [{tmp_path / 'extra.txt'}]\n"
        )
    )
    s, _ = signals(toxicity_stage(cfg), "Only a zorkhead would say that.", "en")
    assert s["toxic_words"] == 1
    (tmp_path / "bad.txt").write_text("zorkhead\n", encoding="utf-8")
    cfg = load_config(
        write_config(
            tmp_path / "b.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      vi: [{tmp_path / 'bad.txt'}]\n"
        )
    )
    with pytest.raises(ValueError, match="bad.txt"):
        toxicity_stage(cfg)


def test_an_allow_phrase_from_an_extra_list_keeps_its_words_from_counting(stage, tmp_path):
    text = f"{NORMAL_EN} What a fucking mess. The museum shows a wooden cock horse and a prick song manuscript."
    before = signals(stage, text, "en")[0]["toxic_words"]
    (tmp_path / "allow.txt").write_text("== allow\nprick song  # old word for written-down music\n", encoding="utf-8")
    cfg = load_config(
        write_config(
            tmp_path / "a.yaml", f"quality:\n  toxicity:\n    extra_lists:\n      en: [{tmp_path / 'allow.txt'}]\n"
        )
    )
    after = signals(toxicity_stage(cfg), text, "en")[0]["toxic_words"]
    assert (before, after) == (2, 1)  # "fucking" stays; "prick" (counted here: the document holds a toxic term) goes


def test_the_numpy_profanity_model_gives_the_packages_probabilities():
    """filters/profanity.py scores the arrays exported from alt-profanity-check: same probabilities on real and trap
    sentences, profane or not, without scikit-learn."""
    from profanity_check import predict_prob

    from sieve.filters.profanity import profanity_model

    pages = json.loads((DATA / "traps" / "toxicity.json").read_text(encoding="utf-8"))["en"]
    sentences = [s for group in pages.values() for page in group for s in page["text"].splitlines() if s.strip()]
    sentences += [p.read_text(encoding="utf-8") for p in sorted((DATA / "junk" / "en").glob("*.txt"))]
    sentences += ["you are a stupid idiot", "", "!!", "Über naïve café"]
    expected = predict_prob(sentences)
    assert len(sentences) > 50 and max(expected) > 0.9
    assert profanity_model().predict_prob(sentences) == pytest.approx(list(expected), abs=1e-12)


# Held-out pages (tests/data/heldout*: two rounds written for sieve on December 6 by sessions that never read the
# filters; the first round's misses shaped today's lists, the second measured them) that the lists still miss: a
# bullying chat and a debt collector's threats with no list word ("con lợn", "gặp ngoài đường là mày đi viện"), and
# a misogynist rant in plain words ("đàn bà não ngắn").
HELD_OUT_TOXIC_KEPT = {
    "heldout/vi/08-chat-bat-nat-hoc-sinh.txt",
    "heldout2/vi/03-tin-nhan-doa-con-no.txt",
    "heldout2/vi/04-bai-viet-miet-thi-phu-nu.txt",
    # round 3, not fitted: threats against a neighbour, hate against migrants, a bullying chat, in plain words
    "heldout3/en/02-neighbour-threat-comment.txt",
    "heldout3/en/03-hate-blog-post.txt",
    "heldout3/vi/02-de-doa-hang-xom.txt",
    "heldout3/vi/03-ky-thi-dan-ngoai-tinh.txt",
    "heldout3/vi/04-nhom-chat-bat-nat.txt",
    # round 4: a threatening letter, hate against refugees, a debt collector's messages, hate against a province
    "heldout4/en/02-threatening-letter.txt",
    "heldout4/en/03-hateful-post.txt",
    "heldout4/vi/02-tin-nhan-doi-no.txt",
    "heldout4/vi/03-ky-thi-vung-mien.txt",
    # round 5: 14 pages of threats, group hate, misogyny and harassment without swear words or slurs, none caught
    *(f"heldout5/{page.replace('/toxic/', '/')}" for page in FIFTH_ROUND_ABUSE),
    # round 6 (after it the lists gained more slurs and letter-by-letter spellings like "v.c.l"): a stalker's letter
    # and a debt collector's threats with no list word, and a homophobic tract of "plague", "filth" and one "f*gs";
    # the racist rant ("p*kis") and the misogynist post ("v.c.l") are dropped since
    "heldout6/en/03-harassment-threat.txt",
    "heldout6/en/05-homophobic-tirade.txt",
    "heldout6/vi/03-doi-no-de-doa.txt",
    # round 9, unseen: a neighbour's veiled threats and contempt for people from the provinces, with no list word
    "heldout9/en/03-open-letter-neighbour-veiled-threat.txt",
    "heldout9/vi/03-bai-dang-miet-thi-dan-tinh-le.txt",
    # round 10, unseen: a letter threatening a neighbour and her child, an ex's stalking messages, in plain words
    "heldout10/en/03-letter-to-neighbour-threat.txt",
    "heldout10/vi/03-tin-nhan-de-doa.txt",
}


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_held_out_abusive_pages_are_dropped_and_ordinary_ones_kept(stage, lang):
    """Masked obscenities, dehumanising phrases, threats, self-harm incitement and slurs on pages written after the
    lists: all but the named misses dropped; no ordinary or contact page of the held-out sets dropped."""
    toxic = [p for root in HELD_OUT_ROUNDS for p in sorted((root / lang / "toxic").glob("*.txt"))]
    kept = {f"{p.parents[2].name}/{lang}/{p.name}" for p in toxic if not _drops(stage, p, lang)}
    assert len(toxic) == 48 and kept == {name for name in HELD_OUT_TOXIC_KEPT if f"/{lang}/" in name}
    ordinary = [
        p
        for root in HELD_OUT_ROUNDS
        for group in ("ordinary", "pii")
        for p in sorted((root / lang / group).glob("*.txt"))
    ]
    assert len(ordinary) >= 60 and not [p.name for p in ordinary if _drops(stage, p, lang)]


def _drops(stage, path, lang) -> bool:
    s, doc = signals(stage, path.read_text(encoding="utf-8"), lang)
    return stage.decide(doc, s) is not None


def test_a_list_word_spelled_letter_by_letter_counts_and_initials_do_not(stage):
    def count(text, lang="en"):
        return signals(stage, text, lang)[0]["toxic_words"]

    assert count("v.c.l thằng nào rước về", "vi") == 1
    assert count("What the f-u-c-k, s.h.i.t happens.") == 2
    assert count("D.M. Thomas and J.R.R. Tolkien met in the U.S.A. at 9 a.m.; see e.g. p.h.d. notes.") == 0
    assert count("Trận đấu kết thúc lúc 9 g.m.t, đ.m là viết tắt của động mạch.", "vi") == 0


def test_a_masked_list_word_counts_as_toxic_and_a_masked_name_or_product_does_not(stage):
    def count(text, lang="en"):
        return signals(stage, text, lang)[0]["toxic_words"]

    assert count("What a f***ing mess, you b****d.") == 2  # an ending the term lacks; one star fewer than letters
    assert count("Absolute sh*t, and the c***s knew it.") == 2
    assert count("What a load of sh!t, you a$$hole, f@ck off.") == 3
    assert count("Mail info@acme.com or sales@shop; Yahoo! and Ke$ha are names; tickets $5!") == 0
    assert count("★★★★★ b***h: Giao hàng nhanh, đóng gói cẩn thận.", "vi") == 0  # a shop masks its reviewers' names
    assert count("Đ*t mẹ mày.", "vi") == 1
    assert count("Reviews: Ni** from Seoul, Man** from Busan, Ali*** from Jeju.") == 0  # names masked after 2+ letters
    assert count("The speed is v = s*t and the area a*b; prices* exclude tax. **Bold** text.") == 0
    assert count("Philip K. Dick wrote about androids; what a fucking mess.") == 1  # a name on the allow list
