"""Searchable text for seeded conversations (`manage.py seed_usage --text`): messages, replies
and titles made of words with a realistic spread, so that searching a large seeded database
behaves as on real data: a few words in most replies, most words rare, and some conversations
in Chinese (no spaces between words, as real Chinese text). The vocabulary is the same for
every seed (a benchmark can name its words); the text is deterministic for a given seed.

English-like words are built from syllables; the first ones of the vocabulary are common English
words. Chinese words are two or three common characters. Word frequencies follow Zipf's law
(the n-th word about 1/n as often as the first). Replies are sentences drawn from a pool, so that
a million replies cost a few seconds; a fifth of them also carry a word of their own
(`rare_word(n)`, numbered from the seed's own start), found in one reply."""

import itertools
import random
from dataclasses import dataclass

COMMON_WORDS = (
    "the of and to in is you that it for on with as are this be or by not can use from your "
    "have an if at which will one all but when more we there what some data file so time set "
    "how each new value error server user list code function query table page test report "
    "model update request account budget meeting invoice customer project python database "
    "network password release contract schedule summary translation review deadline"
).split()
ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gr pl pr sh st th tr".split()
VOWELS = "a e i o u ai ea ee ou oo".split()
CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck"]
# Common Chinese characters (words are two or three of them).
HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过"
    "子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体"
    "制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内"
    "数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提"
    "直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计"
    "别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海"
)
VOCABULARY_SEED = 0
SENTENCES = 40_000
CHINESE_SHARE = 0.15  # of conversations
RARE_SHARE = 0.2  # of replies with a word of their own


def rare_word(number: int) -> str:
    """The word only the `number`-th reply given one has (a made-up word: "zq" and base 26)."""
    letters = []
    while True:
        number, digit = divmod(number, 26)
        letters.append(chr(ord("a") + digit))
        if not number:
            break
    return "zq" + "".join(reversed(letters)) + "x"


def zipf_weights(count: int) -> list[float]:
    return list(itertools.accumulate(1 / rank for rank in range(1, count + 1)))


@dataclass
class Vocabulary:
    english: list[str]
    chinese: list[str]


def vocabulary(english: int = 60_000, chinese: int = 15_000) -> Vocabulary:
    rng = random.Random(VOCABULARY_SEED)
    words = list(COMMON_WORDS)
    seen = set(words)
    while len(words) < english:
        word = "".join(
            rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
            for _syllable in range(rng.choice((1, 2, 2, 3)))
        )
        if len(word) > 2 and word not in seen:
            seen.add(word)
            words.append(word)
    hanzi = [rng.choice(HANZI) + rng.choice(HANZI) for _ in range(chinese)]
    hanzi += ["".join(rng.choices(HANZI, k=3)) for _ in range(chinese // 3)]
    return Vocabulary(words, list(dict.fromkeys(hanzi)))


class TextMaker:
    """Messages and replies, each a few sentences from a pool of sentences made once."""

    def __init__(self, rng: random.Random, first_rare: int = 0):
        self.rng = rng
        self.words = vocabulary()
        english_weights = zipf_weights(len(self.words.english))
        chinese_weights = zipf_weights(len(self.words.chinese))
        self.english = [self._english_sentence(english_weights) for _sentence in range(SENTENCES)]
        self.chinese = [
            self._chinese_sentence(chinese_weights) for _sentence in range(SENTENCES // 4)
        ]
        self.rare = first_rare

    def _english_sentence(self, weights) -> str:
        words = self.rng.choices(self.words.english, cum_weights=weights, k=self.rng.randint(6, 16))
        return " ".join(words).capitalize() + self.rng.choice((".", ".", ".", "?", "!"))

    def _chinese_sentence(self, weights) -> str:
        words = self.rng.choices(self.words.chinese, cum_weights=weights, k=self.rng.randint(4, 12))
        return "".join(words) + self.rng.choice(("。", "。", "？", "！"))  # noqa: RUF001

    def is_chinese(self) -> bool:
        return self.rng.random() < CHINESE_SHARE

    def message(self, chinese: bool) -> str:
        pool = self.chinese if chinese else self.english
        joiner = "" if chinese else " "
        return joiner.join(self.rng.choices(pool, k=self.rng.randint(1, 2)))

    def reply(self, chinese: bool) -> str:
        """A few paragraphs of markdown (some bold words, a list now and then)."""
        pool = self.chinese if chinese else self.english
        joiner = "" if chinese else " "
        sentences = self.rng.choices(pool, k=self.rng.randint(4, 12))
        if self.rng.random() < RARE_SHARE:
            self.rare += 1
            sentences.insert(self.rng.randrange(len(sentences)), f"**{rare_word(self.rare)}**")
        paragraphs = [joiner.join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
        if self.rng.random() < 0.3:
            paragraphs[-1] = "\n".join(f"- {line}" for line in sentences[-3:])
        return "\n\n".join(paragraphs)
