"""What kinds of fact a sentence carries: people, bodies, dates, figures, sums, places, causes, named lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\b(?: (?:19|20)\d\d\b)?"
    rf"|(?:{_MONTHS}) (?:\d{{1,2}}, )?(?:19|20)\d\d\b"
    rf"|(?:spring|summer|autumn|winter|early|mid|late)[ -](?:19|20)\d\d|(?:19|20)\d\d(?:[/–-]\d{{2,4}})?\b"
    rf"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b)"
)
_SPECIFIC_DATE = re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\b|\b(?:{_MONTHS}) (?:19|20)\d\d\b")
_YEAR_ONLY = re.compile(r"^(?:19|20)\d\d(?:[/–-]\d{2,4})?$")
NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    "|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds"
    "|thousand|thousands|million|millions|billion|dozen|dozens|half|third|thirds|quarter|quarters|twice|double"
    "|treble|single"
)
_QUANTITY = re.compile(
    rf"£\s?\d|\$\s?\d|€\s?\d|\b\d[\d,.]*\s?(?:%|per ?cent|bn|m|k)\b|\b\d[\d,.]*\b|\b(?:{NUMBER_WORDS})\b",
    re.I,
)
_MONEY = re.compile(r"£\s?\d|\$\s?\d|€\s?\d|\b\d[\d,.]*\s?(?:bn|m|k)\b|\b(?:million|billion) (?:pounds|a year)\b", re.I)
_TITLE = re.compile(
    r"\b(?:Sir|Dame|Lord|Lady|Baroness|Baron|Dr|Professor|Prof|Councillor|Cllr|Mr|Mrs|Ms|Miss|PC|DCI|DI|Rev)\.? "
    r"[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)*"
)
_PERSON = re.compile(r"\b[A-Z][a-z'’]+(?: [A-Z]\.)?(?: (?:van |de |von )?[A-Z][a-z'’-]+){1,2}\b")
_CAPITALISED = re.compile(r"\b[A-Z][a-z'’]+(?:[ -](?:[A-Z][a-z'’]+|of|and|for|the|&|de|upon|on))*(?:[ -][A-Z][a-z'’]+)")
_ACRONYM = re.compile(r"\b[A-Z]{2,}s?\b")
# A capitalised run holding one of these names a body, not a person.
_BODY_WORDS = frozenset(
    [
        "council",
        "councils",
        "borough",
        "county",
        "city",
        "district",
        "trust",
        "nhs",
        "service",
        "services",
        "network",
        "centre",
        "center",
        "department",
        "office",
        "panel",
        "programme",
        "program",
        "partnership",
        "fund",
        "award",
        "awards",
        "board",
        "group",
        "team",
        "force",
        "police",
        "authority",
        "authorities",
        "agency",
        "agencies",
        "ministry",
        "commission",
        "committee",
        "executive",
        "association",
        "alliance",
        "hub",
        "house",
        "street",
        "road",
        "park",
        "act",
        "report",
        "budget",
        "treasury",
        "government",
        "parliament",
        "challenge",
        "transformation",
        "public",
        "sector",
        "families",
        "excellence",
        "information",
        "sharing",
        "health",
        "care",
        "mental",
        "local",
        "national",
        "community",
        "communities",
        "work",
        "learning",
        "skills",
        "university",
        "college",
        "school",
        "institute",
        "foundation",
        "charity",
        "society",
        "union",
        "unit",
        "project",
        "pilot",
        "pilots",
        "initiative",
        "scheme",
        "commissioner",
        "clinical",
        "court",
        "prison",
        "probation",
        "fire",
        "rescue",
        "ambulance",
        "housing",
        "jobcentre",
        "plus",
        "europe",
        "european",
        "social",
        "development",
        "news",
        "times",
        "guardian",
        "executive's",
        "review",
        "inquiry",
        "research",
        "press",
        "blog",
        "bank",
        "limited",
        "ltd",
        "plc",
        "company",
        "partners",
        "trust's",
        "offices",
        "building",
    ]
)
_NOT_NAME_START = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "For",
        "By",
        "From",
        "With",
        "After",
        "Before",
        "During",
        "Its",
        "Their",
        "This",
        "That",
        "These",
        "Those",
        "Some",
        "Most",
        "Many",
        "Both",
        "Each",
        "Every",
        "When",
        "Where",
        "Why",
        "How",
        "What",
        "Which",
        "Who",
        "While",
        "Although",
        "Though",
        "Because",
        "Since",
        "Under",
        "Over",
        "About",
        "According",
        "Later",
        "Earlier",
        "Also",
        "Only",
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Seven",
        "Eight",
        "Nine",
        "Ten",
        "Such",
        "Other",
        # compass words start places, not people: "South Holland", "East Lindsey", "Cheshire West"
        "North",
        "South",
        "East",
        "West",
        "Greater",
        "Another",
        "Several",
        "It",
        "They",
        "He",
        "She",
        "We",
        "There",
        "Here",
        "Not",
        "No",
        "Nor",
        "Neither",
        "Either",
        "If",
        "Unless",
        "Until",
        "Whether",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
)
_CAUSE = re.compile(
    r"\b(?:because|after|following|since|so that|in order to|as a result|due to|owing to|led to|prompted|"
    r"forced|destroyed|the aim|aims? (?:was|were|is|are|to)|aimed|meant to|designed to|intended to|reasons?|"
    r"why|therefore|thus|so as to|to (?:help|make|cut|reduce|save|get|give|bring|avoid|stop|replace|improve|"
    r"support|share|spread|test|find|keep|prepare|ensure|respond|tackle|end))\b",
    re.I,
)
_PLACE_WORDS = re.compile(
    r"\b(?:based (?:at|in)|at (?:the )?[A-Z]|in (?:the )?[A-Z]|from (?:the )?[A-Z]|House\b|Centre\b|building|"
    r"offices?\b|headquarters|venue|premises|site\b|Hall\b|Street\b|Road\b|ward|wards)"
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|n't|unclear|unknown|gives no|names no)\b", re.I
)
_LIST = re.compile(r"(?:[A-Z][\w'’&-]+[^,;.]*[,;] ){2,}|: [^.]*; |\bsuch as\b|\bincluding\b|\bnamely\b|\bnames\b")


def has_date(text: str, known: Iterable[str] = ()) -> bool:
    """A date, other than those in `known` (the question's own years do not answer "when")."""
    return any(m.group(0) not in known for m in _DATE.finditer(text.replace("–", "-")))


_REPORTED_ON = re.compile(
    r"\b(?:reported|wrote|said|says|published|blogged|dated|posted|written|article|blog|item|report|minutes?"
    r"|post|release|statement|notice|piece|letter|interview|slides|deck)"
    r"(?: \w+){0,2} (?:on|in|of|dated) (?:the )?(?:\d{1,2} )?(?:[A-Z][a-z]+ )?(?:19|20)\d\d",
)


def _only_reporting_dates(text: str) -> bool:
    """Whether every date is when a source said something ("BBC News reported on 1 June 2008 that ..."), so the
    sentence dates the report, not the event asked about."""
    dates = len(_DATE.findall(text))
    return dates > 0 and len(_REPORTED_ON.findall(text)) >= dates


def has_quantity(text: str) -> bool:
    """A count, share or sum: a number that is not only a year, or a number word."""
    for match in _QUANTITY.finditer(text):
        token = match.group(0).strip()
        if _YEAR_ONLY.match(token) or _in_date(text, match.start()):
            continue
        return True
    return False


def _in_date(text: str, at: int) -> bool:
    """Whether the number at `at` is the day of a date ("30 May 2008") rather than a count."""
    return bool(re.match(rf"\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\b", text[at:]))


# A change in a figure: "fell from 667 to 242 (64%)", "cut by a third", "a 14% rise"
FALLS = (
    r"fell|fall|falls|falling|dropped|drop|drops|cut|cuts|reduced|reduce|reduces|reductions?|declined|declines?"
    r"|halved|shrank|shrink|went down"
)
RISES = r"rose|rise|rises|rising|increased|increases?|grew|grow|grows|growth|doubled|went up"
CHANGE_VERBS = f"{FALLS}|{RISES}"
_FALL = re.compile(rf"\b(?:{FALLS})\b", re.I)
_RISE = re.compile(rf"\b(?:{RISES})\b", re.I)
_SHIFT = re.compile(
    r"\d\s?%|per ?cent|\bfrom (?:£|about |around )?\d[\d,.]*\w* (?:a year |per year )?to (?:£|about |around )?\d", re.I
)


def has_change(text: str, question: str = "") -> bool:
    """Whether a sentence states how a figure changed (a rise or fall, a share, or "from N to M") and, when the
    question says which way ("fell"), not only a move the other way."""
    falls, rises = bool(_FALL.search(text)), bool(_RISE.search(text))
    if _FALL.search(question) and rises and not falls:
        return False
    if _RISE.search(question) and falls and not rises:
        return False
    return falls or rises or bool(_SHIFT.search(text))


def has_money(text: str) -> bool:
    return bool(_MONEY.search(text))


def people(text: str) -> list[str]:
    """Names of people: a title and a name ("Sir Derek Myers"), or a capitalised pair that names no body."""
    found = [m.group(0) for m in _TITLE.finditer(text)]
    for match in _PERSON.finditer(text):
        words = match.group(0).split()
        if words[0] in _NOT_NAME_START:
            words = words[1:]
        # "Blackpool's High Intensity User service": what follows an owner is a thing of theirs, not a name
        if any(w.endswith(("'s", "’s")) for w in words[:-1]) or text[: match.start()].endswith(("'s ", "’s ")):
            continue
        if len(words) < 2 or len(words) > 4:
            continue
        if any(w.lower().strip("'’s") in _BODY_WORDS for w in words) or any(w in _NOT_NAME_START for w in words):
            continue
        found.append(" ".join(words))
    return found


def is_person(name: str) -> bool:
    """Whether a name is a person's: "Sir Derek Myers", "Pat Ritchie" (not "Transformation Challenge Award")."""
    return bool(_TITLE.fullmatch(name)) or people(name) == [name]


def bodies(text: str) -> list[str]:
    """Named organisations: capitalised runs holding a word such as Council, Trust or Network, and acronyms."""
    found = [m.group(0) for m in _ACRONYM.finditer(text) if m.group(0) not in ("I", "A", "OK")]
    for match in _CAPITALISED.finditer(text):
        words = match.group(0).split()
        if any(w.lower().strip("'’s") in _BODY_WORDS for w in words):
            found.append(match.group(0))
    return found


def has_place(text: str, places: Iterable[str] = ()) -> bool:
    return bool(_PLACE_WORDS.search(text)) or any(p and p in text for p in places)


def has_cause(text: str) -> bool:
    return bool(_CAUSE.search(text))


def has_list(text: str) -> bool:
    return bool(_LIST.search(text)) or len(bodies(text)) + len(people(text)) >= 2


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


@lru_cache(maxsize=1024)
def _stem(word: str) -> str:
    import Stemmer

    return str(Stemmer.Stemmer("english").stemWord(word.lower()))


def _new(found: list[str], named: list[str], question: str = "") -> list[str]:
    """Names not already in the question: a name shares no word with any the question gives, and most of its
    words are not the question's own ("the Tri-borough Care Proceedings Pilot" asked about in lower case)."""
    asked = {w for n in named for w in n.split()}
    said = set(re.findall(r"[\w-]{4,}", question.lower()))

    def echoes(name: str) -> bool:
        words = [w.removesuffix("'s").removesuffix("’s") for w in re.findall(r"[\w'’-]{4,}", name.lower())]
        return bool(words) and sum(w in said for w in words) * 3 >= len(words) * 2

    return [f for f in found if not set(f.lower().split()) & asked and not echoes(f)]


def _places_in(text: str, places: Iterable[str]) -> list[str]:
    return [p for p in places if p and p in text]


ANY_COUNT = {"number", "figure", "figures", "total", "count", "size", "scale", "target", "targets"}
SHARE_WORDS = {"proportion", "percentage", "share", "rate"}
_COUNTS_SOMETHING = re.compile(rf"(?:\b\d[\d,]*\+?|\b(?:{NUMBER_WORDS}))\s+((?:[a-z-]+\s+){{0,2}}?[a-z]+s)\b")
COUNTS_OTHER = 0.8  # how well a count of some other plural ("14 agencies") carries "how many organisations"


def counted_nouns(text: str) -> list[str]:
    """What a sentence's numbers count ("three fire stations" -> "fire stations"), lengths of time aside."""
    return [m.group(1) for m in _COUNTS_SOMETHING.finditer(_DURATION.sub(" ", text))]


@cache
def _body_class_stems() -> frozenset[str]:
    return frozenset(_stem(w) for w in ("council", "borough", "authority", "area", "district", "county"))


def _councils(text: str, head: str) -> list[str]:
    """For "which councils ...": a capitalised name ("Kensington & Chelsea") is a council's even without the word."""
    if not head or _stem(head.split()[-1]) not in _body_class_stems():
        return []
    runs = [m.group(0) for m in _CAPITALISED.finditer(text) if m.start() > 0]
    return [name for run in runs for name in run.split(" and ") if not is_person(name)]


_TIME_UNITS = {"year", "month", "week", "day", "hour"}
_DURATION = re.compile(
    rf"(?:\b\d[\d,.]*|\b(?:{NUMBER_WORDS}))[\s-]+(?:(?:more|extra|further|additional|full)\s+)?"
    r"(?:years?|months?|weeks?|days?|hours?)\b",
    re.I,
)  # "five more days" of training is a length of time too


_PERCENT = re.compile(r"\b\d[\d,.]*\s?(?:%|per ?cent)", re.I)


def _one_each(head: str) -> re.Pattern[str]:
    """ "each family one key worker", "one key worker per family": one of the thing for each of another."""
    stem = re.escape(_stem(head))
    one = rf"\b(?:a|one) (?:[\w-]+ ){{0,2}}?{stem}\w*"
    return re.compile(rf"\beach \w+ {one}|{one} (?:per|for each|for every|to each)\b", re.I)


def quantity_of(text: str, head: str) -> bool:
    """Whether a number counts the thing asked about (`head`): "14 agencies", "1,390 troubled families",
    "ten members"."""
    # a year is no count: "in 2013 to move office staff" says nothing of how many staff
    number = r"(?<![\d,.])(?!(?:19|20)\d\d\b)\d[\d,.]*\+?"
    pattern = rf"(?:{number}|\b(?:{NUMBER_WORDS}))\s+(?:[\w'’-]+\s+){{0,4}}?{re.escape(_stem(head))}\w*"
    return re.search(pattern, text, re.I) is not None


_TIME_RATE = re.compile(
    r"\b(?:annual(?:ly)?|yearly|monthly|weekly|daily|(?:per|each|every|a|an|a single) (?:year|annum|month|week|day))\b",
    re.I,
)


def gives_rate(text: str, unit: str) -> bool:
    """Whether a sentence states a figure per `unit` ("£4,000 for each family", "£1.20 for every £1", "a year")
    rather than a total."""
    if unit in _TIME_UNITS:
        return _TIME_RATE.search(text) is not None
    if unit == "pound":
        return (
            re.search(r"\b(?:per|each|every|a)\s+(?:pound|£1\b)|(?:per|each|every|for)\s+£1\b", text, re.I) is not None
        )
    stem = re.escape(unit.rstrip("ys"))  # "family" is "families" too
    return re.search(rf"\b(?:per|each|every|a|an)\s+(?:[\w-]+\s+){{0,2}}?{stem}\w*|\beach\b", text, re.I) is not None


_SUM = re.compile(r"(£\s?\d[\d,.]*?)\s?(bn|m|k|million|billion|thousand)")
_UNITS = {"m": "million", "bn": "billion", "k": "thousand"}


def figure_forms(figure: str) -> tuple[str, ...]:
    """The ways a text may write a sum asked about: "£15m" in a question is "£15 million" in a document."""
    match = _SUM.fullmatch(figure)
    if not match:
        return (figure,)
    number, unit = match.group(1).replace(" ", ""), _UNITS.get(match.group(2), match.group(2))
    short = next(k for k, v in _UNITS.items() if v == unit)
    return (f"{number}{short}", f"{number} {unit}", f"{number}{unit}")


def holds(text: str, figure: str) -> bool:
    """Whether the text states the figure, in any of its forms."""
    return any(form in text for form in figure_forms(figure))


# a source named after what it reports: ", according to the Guardian." or ", the BBC reported."
_ATTRIBUTION = re.compile(
    r",? (?:according to|reported by|as reported by) [^,;:]+(?=[,;:.]|$)"
    r"|, (?:[\w’'&-]+ ){1,5}(?:reported|said|wrote)\.?$"
)


def carries(
    text: str,
    wants: str,
    places: Iterable[str] = (),
    head: str = "",
    asked: Iterable[str] = (),
    named: Iterable[str] = (),
    question: str = "",
) -> float:
    """How well a sentence carries the kind of fact a question wants: 1 when it does, 0 when it cannot.
    `head` is the word counted in a how-many question ("agencies"): a number next to it carries the answer.
    `asked` holds the years and figures the question itself names, and `named` its names: repeating them answers
    nothing ("Which four areas were Whole Place pilots?" is not answered by "the four Whole Place pilots"), nor
    does a name made of the `question`'s own words."""
    asked = tuple(asked)
    if asked and wants in ("when", "how_many", "how_much"):
        for known in asked:
            for form in figure_forms(known):
                text = text.replace(form, " ")
    named = [n.lower() for n in named]
    if wants in ("who", "which"):  # "..., according to the Guardian": the source is not who or what was asked
        text = _ATTRIBUTION.sub(" ", text)
    if wants == "who":
        if _new(people(text), named, question):
            return 1.0
        return 0.8 if _new(bodies(text), named, question) else 0.0
    if wants == "when":
        if not has_date(text, asked):
            return 0.0
        if _only_reporting_dates(text):
            return 0.5
        return 1.0 if _SPECIFIC_DATE.search(text) else 0.8
    if wants == "how_many":
        if head and _stem(head) not in _TIME_UNITS:  # "14 months earlier" counts months, not the staff asked about
            text = _DURATION.sub(" ", text)
        if not has_quantity(text):
            return 0.0
        if not head or head in ANY_COUNT:
            return 1.0
        if head in SHARE_WORDS:
            return 1.0 if re.search(r"\d\s?%|per ?cent|\b(?:half|third|quarter|two-thirds)\b", text) else 0.6
        if not has_quantity(_PERCENT.sub(" ", text)):
            return 0.6  # "23.6% of Birkenhead's working-age people" is a share, not how many residents
        if quantity_of(_one_each(head).sub(" ", text), head):
            return 1.0
        if quantity_of(text, head):
            return 0.6  # "each family has one key worker" is a ratio, not how many key workers there are
        return COUNTS_OTHER if _COUNTS_SOMETHING.search(text) else 0.6  # "14 agencies" for "organisations"
    if wants == "how_much":
        if has_money(text):
            return 1.0
        return 0.5 if has_quantity(text) else 0.0
    if wants == "where":
        return 1.0 if has_place(text, places) else 0.0
    if wants == "why":
        return 1.0 if has_cause(text) else 0.3
    if wants == "which":
        names = bodies(text) + people(text) + _places_in(text, places) + _councils(text, head)
        found = set(_new(names, named, question))
        wanted = 2 if head.endswith("s") else 1  # "which areas" wants a list, "which minister" one name
        if head and len(head) > 3 and not head.endswith("s") and found:
            # "Which department ...": a name of that kind ("Department for ...") answers; another name may not
            return 1.0 if any(_stem(head) in n.lower() for n in found) or _stem(head) in text.lower() else 0.6
        if len(found) >= wanted or (has_list(text) and found):
            return 1.0
        return 0.6 if found else 0.3
    return 1.0


@lru_cache(maxsize=4096)
def acronym_of(name: str) -> str:
    """ "Public Service Transformation Network" -> "PSTN": how the corpus often refers to a body after first use."""
    words = [w for w in re.findall(r"[A-Za-z]+", name) if w.lower() not in ("of", "and", "for", "the", "on", "in")]
    return "".join(w[0].upper() for w in words) if len(words) >= 2 else ""
