"""What a question asks for: the kind of answer, the detail asked, and how to say it is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import facts

# The kinds of answer a question can want. "lookup" kinds want one fact; the others want an account.
LOOKUPS = ("who", "when", "where", "how_many", "how_much", "which", "why", "yes_no")
STRICT = ("who", "when", "where", "how_many", "how_much", "which")  # a lead must carry this kind of fact

_LEAD_IN = re.compile(
    r"^(?:(?:and|so|but|ok(?:ay)?|also|then|please|now|right|hi|hello|thanks)[,!]?\s+)*"
    r"(?:(?:can|could|would) you (?:please )?(?:tell|show|remind) (?:me|us)\s+|"
    r"(?:can|could|would) you (?:please )?(?=list|name|give|say)|"
    r"(?:please )?tell (?:me|us)\s+|do you know\s+|i(?:'d| would) like to know\s+|i want to know\s+|"
    r"(?:i'm|i am) (?:wondering|curious)\s+)?",
    re.I,
)
_AUX = (
    "is",
    "are",
    "was",
    "were",
    "did",
    "does",
    "do",
    "has",
    "have",
    "had",
    "can",
    "could",
    "will",
    "would",
    "should",
    "might",
    "may",
    "must",
)
_MODAL = {"has", "have", "had", "can", "could", "will", "would", "should", "might", "may", "must"}
_BE = {"is", "are", "was", "were"}
_PERSON_HEADS = {
    "person",
    "people who",
    "minister",
    "ministers",
    "chair",
    "chairs",
    "co-chair",
    "co-chairs",
    "leader",
    "leaders",
    "director",
    "head",
    "secretary",
    "official",
    "officer",
    "mp",
    "councillor",
    "chief",
    "author",
    "member",
    "members",
    "man",
    "woman",
}
_TIME_HEADS = {"year", "date", "dates", "day", "month", "time", "period", "decade", "deadline", "deadlines"}
_PLACE_HEADS = {"place", "town", "city", "county", "venue", "building", "location", "site", "address", "ward"}
_MONEY_HEADS = {
    *("cost", "costs", "budget", "salary", "pay", "price", "fee", "amount", "sum", "funding", "grant", "spend"),
    *("spending", "saving", "savings", "benefit", "benefits", "return", "value", "money", "cash", "investment"),
    *("income", "bill"),
}
_COUNT_HEADS = {
    *("number", "figure", "figures", "percentage", "proportion", "share", "rate", "total", "size", "scale", "count"),
    *("target", "targets"),
}
_MONEY_VERBS = re.compile(
    r"\b(paid|pay|pays|cost|costs|spend|spent|spends|fund|funded|earn|earned|earns|worth|save|saved|saves|"
    r"budget|budgeted|charge|charged|invest|invested|raise|raised|salary|award(?:ed)?|grant(?:ed)?)\b",
    re.I,
)
# Heads that name no detail of their own: "what ideas", "which ways", "what kind of ..."
_GENERIC_HEADS = {
    "idea",
    "ideas",
    "way",
    "ways",
    "thing",
    "things",
    "kind",
    "kinds",
    "sort",
    "type",
    "types",
    "lesson",
    "lessons",
    "approach",
    "approaches",
    "example",
    "examples",
    "part",
    "role",
    "happened",
    "else",
    "difference",
    "differences",
    "about",
}
IDEA_CUES = re.compile(
    r"\b(how (could|can|might|should|would|do|did) (we|i|a|an|our|councils?|places?|partners?|areas?|you|other)"
    r"|ideas?|approach(es)?|lessons?|ways? (to|of)|what (could|can|should|might) (we|i|a|an|our|other)"
    r"|what works|examples?|learn from|borrow|adapt|copy|replicate|we (want|need|plan|are planning|are trying"
    r"|are thinking|would like|hope) to|we're (planning|trying|thinking|about)|tips|advice|good practice"
    r"|best practice|(?:what|how) (?:have|has|did) (?:other|others|places|councils|areas|anyone)|where else"
    r"|anyone else"
    r"|other places|elsewhere)\b",
    re.I,
)
_NAME = re.compile(r"\b[A-Z][\w'’&-]*(?: (?:(?:of|and|for|the|&|on|in|de) )?[A-Z][\w'’&-]*)*")
_YEAR = re.compile(r"\b(?:19|20)\d\d(?:[/–-]\d{2,4})?\b")
_FIGURE = re.compile(
    r"£\s?\d[\d,.]*\s?(?:bn|m|k|million|billion)?|\b\d[\d,.]*\s?(?:%|per ?cent)|(?<![\d/–-])\b\d{2,}[\d,]*\b(?![/–-]\d)"
)
_WORD = re.compile(r"[\w'’&£%.-]+")
_NOT_NAMES = {
    *("I've", "I'm", "I'd", "I'll", "We've", "We're", "You've", "Ok", "OK", "After", "Before", "Since", "During"),
    *("Following", "Once", "By", "From", "With", "Without", "Under", "Over", "Between", "Although", "While"),
    "I",
    "We",
    "You",
    "What",
    "Which",
    "Who",
    "Whom",
    "Whose",
    "When",
    "Where",
    "Why",
    "How",
    "Is",
    "Are",
    "Was",
    "Were",
    "Did",
    "Does",
    "Do",
    "Has",
    "Have",
    "Had",
    "Can",
    "Could",
    "Will",
    "Would",
    "Should",
    "Tell",
    "Please",
    "And",
    "So",
    "But",
    "Also",
    "Our",
    "My",
    "If",
    "In",
    "On",
    "At",
    "For",
    "The",
    "A",
    "An",
    "Compare",
    "Describe",
    "Explain",
    "Give",
    "List",
    "Name",
    "Show",
    *("January", "February", "March", "April", "May", "June", "July", "August", "September", "October"),
    *("November", "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_ADVERBS = {
    *("most", "also", "really", "still", "actually", "ever", "first", "then", "finally", "later", "just", "only"),
    *("not", "now", "yet", "well", "already", "even", "never", "always", "often", "ultimately", "eventually"),
}
_CONJUNCTIONS = {"and", "or", "but", "&", "nor"}
_PERFECT = {"has", "have", "had"}
_OPENING = re.compile(
    r"^(?:(?:roughly|exactly|approximately|briefly|so|and|but|actually|basically|overall|in short)\s+|"
    r"[^,?]{1,80},\s+(?=(?:how|what|which|who|whom|whose|when|where|why|did|does|do|is|are|was|were|has|have|had"
    r"|can|could|will|would|should)\b))",
    re.I,
)
_PREPOSITIONS = {
    *("of", "in", "under", "for", "to", "from", "on", "at", "with", "by", "about", "into", "after", "before"),
    *("during", "between", "across", "alongside", "within", "without", "over", "through", "than", "as", "like"),
    *("per", "via"),
}
_DETERMINERS = {"the", "a", "an", "its", "their", "his", "her", "our", "this", "that", "these", "those", "each"}
_AFTER_VERB = _DETERMINERS | {
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "from",
    "by",
    "about",
    "into",
    "of",
    "as",
    "up",
    "out",
    "off",
    "over",
    "after",
    "before",
    "during",
    "under",
    "between",
    "through",
    "across",
    "around",
    "against",
    "within",
    "without",
    "and",
    "or",
    "it",
    "them",
    "him",
    "us",
    "you",
    "me",
    "more",
    "less",
    "most",
    "any",
    "some",
    "much",
    "many",
    "so",
    "there",
    "first",
    "last",
    "again",
    "still",
    "later",
    "now",
    "then",
    "well",
    "people",
    "families",
    "staff",
    *("anything", "something", "nothing", "everything", "anyone", "someone", "everyone"),
}
IRREGULAR_PAST = {
    "be": "was",
    "have": "had",
    "do": "did",
    "get": "got",
    "pay": "paid",
    "make": "made",
    "build": "built",
    "lead": "led",
    "take": "took",
    "give": "gave",
    "win": "won",
    "set": "set",
    "put": "put",
    "spend": "spent",
    "run": "ran",
    "say": "said",
    "go": "went",
    "come": "came",
    "find": "found",
    "bring": "brought",
    "buy": "bought",
    "begin": "began",
    "choose": "chose",
    "know": "knew",
    "see": "saw",
    "send": "sent",
    "think": "thought",
    "tell": "told",
    "leave": "left",
    "meet": "met",
    "keep": "kept",
    "hold": "held",
    "sell": "sold",
    "write": "wrote",
    "become": "became",
    "cost": "cost",
    "cut": "cut",
    "grow": "grew",
    "mean": "meant",
    "lose": "lost",
    "feel": "felt",
    "stand": "stood",
    "understand": "understood",
    "draw": "drew",
    "fall": "fell",
    "rise": "rose",
    "speak": "spoke",
    "break": "broke",
    "hear": "heard",
    "let": "let",
    "read": "read",
    "shut": "shut",
    "spread": "spread",
    "hit": "hit",
    "teach": "taught",
    "seek": "sought",
    "fight": "fought",
    "catch": "caught",
    "sit": "sat",
    "lend": "lent",
    "deal": "dealt",
    "show": "showed",
    "fly": "flew",
    "wear": "wore",
    "throw": "threw",
    "forget": "forgot",
    "undertake": "undertook",
    "oversee": "oversaw",
    "withdraw": "withdrew",
    "set up": "set up",
}


@dataclass(frozen=True)
class Intent:
    """What a question asks for.

    wants: the kind of answer (who, when, where, how_many, how_much, which, why, yes_no, how, what).
    head: the noun the question asks for ("software vendor" in "Which software vendor did ..."), if any.
    names: names the question is about ("Sir Derek Myers", "Oldham"), in the order asked.
    constraints: years and figures the answer must match ("2020" in "by 2020").
    clause: what the sources would have to do to answer, to say they do not ("say what Sir Derek Myers was paid").
    ideas: the question asks for ways of doing something, so the answer ranges over several places.
    also: a second kind of answer a two-part question wants ("What award ..., and on what date?").
    """

    wants: str
    head: str = ""
    names: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    clause: str = ""
    ideas: bool = False
    also: tuple[str, ...] = ()
    core: str = ""  # the question proper, without its lead-in or opening clause ("After X lost Y, what ...")
    per: str = ""  # the unit a rate is asked in: "year" in "How much a year ...", "family" in "cost per family"

    @property
    def lookup(self) -> bool:
        return self.wants in LOOKUPS and not self.ideas

    @property
    def strict(self) -> bool:
        return self.wants in STRICT and not self.ideas

    @property
    def change(self) -> bool:
        """ "By how much did calls fall?": the figure asked for is a change, so a sentence must say how it moved."""
        return self.wants in ("how_many", "how_much") and bool(_CHANGE_VERB.search(self.clause or self.core))


_CHANGE_VERB = re.compile(rf"\b(?:{facts.CHANGE_VERBS})\b", re.I)


def read_intent(question: str) -> Intent:
    """Read what a question wants from its own words (no list of topics: the form of the question decides)."""
    asked = _asked_part(question)
    body = _LEAD_IN.sub("", asked).strip().rstrip("?.! ")
    body = _OPENING.sub("", body)  # "By early 2015, how many ...": the question proper follows the comma
    words = body.split()
    lower = [w.lower().strip(",;:") for w in words]
    wants, head, rest_at = _kind(lower)
    inner = _inner_question(lower) if wants == "what" else 0
    if inner:  # "what the police said in 2021 about how many people ...": the count is what is asked
        words, lower = words[inner:], lower[inner:]
        wants, head, rest_at = _kind(lower)
    if lower[:1] in (["about"], ["describe"], ["explain"], ["summarise"], ["summarize"], ["outline"]):
        words = lower = []  # "tell me about X" asks for an account: nothing to turn into "the sources do not say"
    if wants == "what" and len(lower) > 2 and lower[1] in _BE:  # "What were the bidding deadlines ...?"
        wants, head = _head_kind(lower, 2, wants)
    # "What was X paid": the money verb is the question's own ("Award" in a name, or "families who cost a
    # great deal" later on, ask for no sum)
    lowercase = " ".join(w for w in words[:8] if not w[:1].isupper())
    if wants == "what" and (_MONEY_VERBS.search(lowercase) or _rate_unit(body) == "pound"):
        wants = "how_much"  # "What did the scheme return for every pound spent?" asks a sum too
    ideas = bool(IDEA_CUES.search(question)) and wants not in ("when", "who", "where", "how_many", "how_much")
    also = tuple(k for k in _second_parts(body) if k != wants)
    return Intent(
        wants=wants,
        head=head,
        names=names_in(question),
        constraints=_constraints(question),
        clause=indirect_clause(words, lower, wants, rest_at),
        ideas=ideas,
        also=also,
        core=body,
        per=_rate_unit(body) if wants in ("how_many", "how_much") else "",
    )


# "per family", "each year", "for every pound"; "a year" only as a rate, not in "a year later"
_RATE = re.compile(
    r"\b(?:per|each|every)\s+(?:single\s+)?(\w+)|\b(?:a|an)\s+(year|month|week|day)\b(?!\s+(?:later|earlier|after|before|on|ago))"
    r"|\b(yearly|annual|annually|monthly|weekly|daily)\b",
    re.I,
)
_ADVERB_UNITS = {
    "yearly": "year",
    "annual": "year",
    "annually": "year",
    "monthly": "month",
    "weekly": "week",
    "daily": "day",
}
_RATE_UNITS = {"year", "month", "week", "day", "family", "person", "head", "pound", "household", "client", "call"}


def _rate_unit(body: str) -> str:
    """The unit a sum or count is asked per ("year", "family"), or ""; "every area in England" asks no rate."""
    for match in _RATE.finditer(body):
        unit = (match.group(1) or match.group(2) or _ADVERB_UNITS.get(match.group(3).lower(), "")).lower()
        unit = unit[:-1] if unit.endswith("s") and unit[:-1] in _RATE_UNITS else unit
        if unit in _RATE_UNITS:
            return unit
    return ""


def _inner_question(lower: list[str]) -> int:
    """Where a question asked about a statement starts ("... said about how many people ..."), or 0."""
    for i, word in enumerate(lower[:-1]):
        if word == "about" and (
            lower[i + 1] in ("when", "where", "who", "why")
            or (lower[i + 1] == "how" and lower[i + 2 : i + 3] in (["many"], ["much"], ["long"], ["often"]))
        ):
            return i + 1
    return 0


def _asked_part(question: str) -> str:
    """The sentence that asks: in "We want to put agencies in one building. What could we borrow?" the second."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z])", question.strip()) if p.strip()]
    asking = [p for p in parts if p.endswith("?")]
    return (asking or parts or [question])[-1]


def _kind(lower: list[str]) -> tuple[str, str, int]:
    """(wants, head noun, index where the rest of the question starts after the wh-phrase)."""
    if not lower:
        return "what", "", 0
    first = lower[0]
    second = lower[1] if len(lower) > 1 else ""
    if first in ("who", "whom", "whose"):
        return "who", "", 1
    if first == "when":
        return "when", "", 1
    if first == "where":
        return "where", "", 1
    if first == "why":
        return "why", "", 1
    if first == "how":
        if second in ("many", "much"):
            head, end = _head(lower, _partitive_noun(lower, 2))
            if _RATE.fullmatch(head):  # "How much a year ...": a rate, no noun
                head = ""
            if second == "much" and not head:
                return "how_much", "", end
            kind = "how_much" if head in _MONEY_HEADS or "money" in head or second == "much" else "how_many"
            return kind, head, end
        if second in ("long", "big", "large", "often", "far", "old", "quickly", "fast", "soon", "expensive"):
            return ("how_much" if second == "expensive" else "how_many"), "", 2
        return "how", "", 1
    if first in ("which", "what"):
        head, end = _head(lower, 1)
        last = head.split()[-1] if head else ""
        if not head:
            if first == "what" and second in ("led", "prompted", "caused", "made", "drove"):
                return "why", "", 1
            return "what", "", 1
        if head in _PERSON_HEADS or last in _PERSON_HEADS:
            return "who", head, end
        if last in _TIME_HEADS:
            return "when", head, end
        if last in _MONEY_HEADS:
            return "how_much", head, end
        if last in _COUNT_HEADS:
            return "how_many", head, end
        if last in _PLACE_HEADS:  # singular: "which venue"; "which places" wants a list
            return "where", head, end
        if last in _GENERIC_HEADS or last in ("reason", "reasons", "cause", "causes"):
            return ("why" if last.startswith(("reason", "cause")) else "what"), "", end
        return "which", head, end
    if first in ("by", "for") and second == "how":  # "By how much did calls fall?": a change, any figure answers
        wants, head, end = _kind(lower[1:])
        return ("how_many" if wants == "how_much" and not head else wants), head, end + 1
    if first in ("in", "on", "at", "by", "from", "for") and second in ("which", "what"):
        head, end = _head(lower, 2)
        last = head.split()[-1] if head else ""
        if last in _TIME_HEADS:
            return "when", head, end
        if last in _PLACE_HEADS:
            return "where", head, end
        return "which", head, end
    if first in _AUX:
        return "yes_no", "", 0
    if first in ("list", "name", "give", "say"):  # "List the names of ...": the named items
        head, end = _head(lower, 2 if second in _DETERMINERS else 1)
        return "which", head, end
    return "what", "", 0


def _partitive_noun(lower: list[str], start: int) -> int:
    """Where the noun counted starts in "how many of the borough's own staff": after "of", determiners,
    possessives and "own" (none when only a pronoun follows: "how many of them")."""
    if start >= len(lower) or lower[start] != "of":
        return start
    at = start + 1
    while at < len(lower) and (
        lower[at] in _DETERMINERS or lower[at].endswith(("'s", "’s")) or lower[at] == "own" or lower[at].isdigit()
    ):
        at += 1
    return start if at < len(lower) and lower[at] in ("them", "us", "these", "those") else at


def _head_kind(lower: list[str], start: int, default: str) -> tuple[str, str]:
    """The kind a noun phrase asks for when it follows "What were ...": the deadlines, the cost, the partners."""
    at = start + (lower[start] in _DETERMINERS if start < len(lower) else 0)
    end = at
    while end < len(lower) and lower[end] not in _PREPOSITIONS and lower[end] not in _AUX:
        end += 1
    head = " ".join(lower[at:end])
    last = lower[end - 1] if end > at else ""
    for heads, kind in ((_TIME_HEADS, "when"), (_MONEY_HEADS, "how_much"), (_COUNT_HEADS, "how_many")):
        if last in heads:
            return kind, head
    if last in _PERSON_HEADS:
        return "who", head
    return default, ""


def _head(lower: list[str], start: int) -> tuple[str, int]:
    """The noun asked for after which/what/how many ("software vendor" in "which software vendor did"), and
    where the rest of the question starts: at its auxiliary, so "Which power under the Act was X meant to use"
    keeps "under the Act" with the wh-phrase."""
    aux_at = next((i for i in range(start, min(len(lower), start + 10)) if lower[i] in _AUX), None)
    end = start
    limit = aux_at if aux_at is not None else min(len(lower), start + 1 + int(_plural_follows(lower, start)))
    while (
        end < limit
        and lower[end] not in _PREPOSITIONS
        and not _looks_like_verb(lower, end)
        and not (end > start and lower[end] in _DETERMINERS)  # "people the workzones placed": a new phrase
    ):
        end += 1
    head = " ".join(lower[start:end]).strip(",")
    return head, aux_at if aux_at is not None else end


def _plural_follows(lower: list[str], start: int) -> bool:
    """Whether a plural noun follows the first word with no auxiliary to end the phrase: "how many Birkenhead
    residents found jobs" counts residents ("how many staff work there" stays with staff)."""
    after = lower[start + 1] if start + 1 < len(lower) else ""
    return after.endswith("s") and not after.endswith(("ss", "us")) and not _looks_like_verb(lower, start + 1)


def _looks_like_verb(lower: list[str], i: int) -> bool:
    word = lower[i]
    return (
        word.endswith("ed") and len(word) > 4 and i > 0 and lower[i - 1] not in _DETERMINERS
    ) or word in IRREGULAR_PAST.values()


_SECOND_PART = re.compile(
    r",?\s+and\s+(?:on |in |at |by |since |from |until )?(when|where|who|why|how many|how much|what \w+)", re.I
)


def _second_parts(body: str) -> list[str]:
    """Kinds asked in later clauses: "..., and on what date?" or "... and how much did it cost?"."""
    return [_kind(match.group(1).lower().split())[0] for match in _SECOND_PART.finditer(body)]


def names_in(text: str) -> list[str]:
    """Capitalised names and acronyms the question is about, in order: "Sir Derek Myers", "PSTN", "Oldham"."""
    found: list[str] = []
    for match in _NAME.finditer(text):
        tokens = match.group(0).split()
        opens = not text[: match.start()].strip() or text[: match.start()].rstrip().endswith((".", "?", "!"))
        if opens and tokens and re.fullmatch(r"[A-Z][a-z]+ly", tokens[0]):  # "Roughly how many ..."
            tokens = tokens[1:]
        while tokens and (tokens[0] in _NOT_NAMES or tokens[0].lower() in ("of", "and", "for", "the", "&")):
            tokens = tokens[1:]
        while tokens and tokens[-1].lower() in ("of", "and", "for", "the", "&", "on", "in", "de"):
            tokens = tokens[:-1]
        name = " ".join(tokens).strip(",.;:")
        if name.endswith(("'s", "’s")):
            name = name[:-2]
        if name and name not in _NOT_NAMES and name not in found and not DESCRIBES.match(text, match.end()):
            found.append(name)
    return found


# "the Leicestershire borough", "that Kent seaside town": the name only says where; the thing asked about is the
# borough or town it describes, which the question does not name
DESCRIBES = re.compile(
    r"(?:'s)?\s+(?:[a-z-]+\s+)?(?:borough|city|town|county|district|village|area|seaside|conurbation|region)\b"
)


def _constraints(question: str) -> list[str]:
    """Years and figures in the question: an answer about another year does not answer it. Dashes are
    written as "-", as `dashless` writes the text they are looked for in."""
    question = dashless(question)
    found = [m.group(0) for m in _YEAR.finditer(question)]
    found += [m.group(0).strip() for m in _FIGURE.finditer(question) if not _YEAR.fullmatch(m.group(0).strip())]
    return list(dict.fromkeys(found))


def dashless(text: str) -> str:
    """En and em dashes as hyphens, so "2013–14" in a document matches "2013-14" in a question."""
    return text.replace("–", "-").replace("—", "-")


# -- saying what is missing ---------------------------------------------------------------------
_DO = {"do", "does", "did"}


def indirect_clause(words: list[str], lower: list[str], wants: str, rest_at: int) -> str:
    """The question turned into a clause that fits "The sources do not say ...": "Which vendor did Oldham use"
    becomes "which vendor Oldham used". Returns "" when the question's shape is not one this can turn."""
    if not words:
        return ""
    if lower[0] in ("list", "name", "give", "say"):  # "List the names of X": the sources do not give them
        return "give " + " ".join(words[1:])
    if wants == "yes_no":
        turned = _turn(words[1:], lower[1:], lower[0], question_form=False)
        return f"say whether {turned}" if turned else ""
    if rest_at == 0:  # no wh-phrase to start from ("By how many calls ...", "Our force wants to know ...")
        return ""
    wh = " ".join(words[:rest_at])
    wh = wh[:1].lower() + wh[1:]
    rest, rest_lower = words[rest_at:], lower[rest_at:]
    if not rest:
        return ""
    if rest_lower[0] not in _AUX:
        if _DO & set(rest_lower):  # "how big a single pot did the reviewers want": a shape this cannot turn
            return ""
        return f"say {wh} {' '.join(rest)}"  # "who led the PSTN": the wh-phrase is the subject, nothing to turn
    if rest_lower[0] in _BE and len(rest_lower) > 1 and _participle(rest_lower[1]):
        return f"say {wh} {' '.join(rest)}"  # "how many posts were cut": the wh-phrase holds the subject
    turned = _turn(rest[1:], rest_lower[1:], rest_lower[0], question_form=True)
    if turned is None:
        return f"say {wh} {' '.join(rest)}"  # "how many children were in care": the auxiliary is the verb
    return f"say {wh} {turned}" if turned else ""


_EN_PARTICIPLES = frozenset(
    ("chosen", "given", "taken", "written", "seen", "known", "shown", "grown", "drawn", "driven", "broken", "done")
)


def _participle(word: str) -> bool:
    return word.endswith("ed") or word in IRREGULAR_PAST.values() or word in _EN_PARTICIPLES


def _turn(tail: list[str], lower: list[str], aux: str, question_form: bool) -> str | None:
    """Subject, then the auxiliary (or the verb it carried): "did Oldham use" -> "Oldham used"."""
    cut = _subject_end(tail, lower, aux)
    if cut is None:
        return None
    if aux in _BE:
        cut = _be_split(tail, lower, cut, question_form)
        if cut is None:
            return ""
    subject, after, after_lower = " ".join(tail[:cut]), tail[cut:], lower[cut:]
    if aux in ("did", "does", "do"):
        k = next((i for i, w in enumerate(after_lower) if w not in _ADVERBS), len(after))
        if k == len(after):
            return f"{subject} {aux}"
        return " ".join([subject, *after[:k], _inflect(after_lower[k], aux), *after[k + 1 :]])
    return " ".join([subject, aux, *after]).strip()


def _be_split(tail: list[str], lower: list[str], cut: int, question_form: bool) -> int | None:
    """Where the subject ends after is/was: before a participle or an adverb ("Where is the team based", "Were
    Melton and the county hoping") and, in a yes/no question, before a second noun phrase ("Was the pilot a
    success"); otherwise the whole rest is the subject ("What were the deadlines for the award" -> "... were")."""
    for j in range(1, len(lower)):
        word = lower[j]
        if lower[j - 1] in _DETERMINERS or tail[j][:1].isupper():
            continue
        if word in _ADVERBS or word == "being":
            return j
        if not question_form and word in ("a", "an", "the") and j >= cut and lower[j - 1] not in ("and", "or"):
            return j
        if word.endswith("ing") or _participle(word):
            if _modifies_noun(lower, j) or _reduced_relative(lower, j):
                continue
            return j
    if question_form:
        return len(lower)
    return cut if cut < len(lower) and tail[0][:1].isupper() else None


def _reduced_relative(lower: list[str], j: int) -> bool:
    """ "the reoffending rate for adults helped by the programme": a participle with its agent ("by"), after a
    preposition's noun, describes that noun; "was" belongs after the whole phrase."""
    return j + 1 < len(lower) and lower[j + 1] == "by" and any(w in _PREPOSITIONS for w in lower[1:j])


def _modifies_noun(lower: list[str], j: int) -> bool:
    """ "was Melton's new shared office ... meant to hold": a participle before a plain noun, with a verb still to
    come, describes the noun rather than being the verb."""
    following = lower[j + 1] if j + 1 < len(lower) else ""
    plain = following.isalpha() and following not in {*_PREPOSITIONS, *_DETERMINERS, *_ADVERBS, *_CONJUNCTIONS, "to"}
    return plain and not _participle(following) and any(_participle(w) for w in lower[j + 2 :])


def _subject_end(tail: list[str], lower: list[str], aux: str = "did") -> int | None:
    """Where the subject after an auxiliary ends, so the clause can put the auxiliary back after it: a run of
    capitalised words ("Me and My Learning"), a pronoun, or a determiner phrase up to its verb. None when the
    auxiliary is the main verb with no subject after it ("how many children were in care")."""
    if not tail:
        return None
    if lower[0] in ("it", "they", "he", "she", "we", "you", "i", "there", "this", "that", "these", "those"):
        return 1
    if tail[0][:1].isupper():
        i = 0
        while i < len(tail) and (
            tail[i][:1].isupper()
            or (lower[i] in ("and", "of", "&", "for", "the", "de") and i + 1 < len(tail) and tail[i + 1][:1].isupper())
        ):
            i += 1
        if i < len(tail) and lower[i - 1].endswith(("'s", "’s")):  # "Melton's skills centre": its noun follows
            return _verb_at(tail, lower, i, aux)
        return i
    if lower[0] in _DETERMINERS or lower[0].endswith(("'s", "’s")):
        return _verb_at(tail, lower, 1, aux)
    if aux in _DO and lower[0].isalpha() and lower[0] not in {*_PREPOSITIONS, *_AUX, *_ADVERBS}:
        # a bare plural subject: "did calls from frequent callers fall"
        return _verb_at(tail, lower, 1, aux)
    return None


def _verb_at(tail: list[str], lower: list[str], start: int, aux: str = "did") -> int:
    """Where the verb is after a subject that begins with a determiner ("did the panel recommend ..."). After
    has/have/had it is the first participle ("had the programme turned round"); otherwise the first word shaped
    like a base verb (not capitalised, not plural, no -ed or -tion ending, not straight after a determiner or
    preposition, not followed by "of") that is followed by what follows verbs, else the first such word."""
    candidates = []
    for j in range(start, len(lower)):
        word, previous = lower[j], lower[j - 1] if j else ""
        if tail[j][:1].isupper() or word in _PREPOSITIONS | _ADVERBS | _CONJUNCTIONS | _DETERMINERS:
            continue
        if previous in _DETERMINERS | _PREPOSITIONS:
            continue
        if aux in _PERFECT and (word.endswith("ed") or word in IRREGULAR_PAST.values()):
            return j
        if word in _CLAUSE_VERBS:  # "did the service say calls fell": the clause turns on "say", not "fell"
            return j
        following = lower[j + 1] if j + 1 < len(lower) else ""
        if following == "of" or re.search(r"(?:[^su]s|[^e]ed|tion|ment|ness|ity|ship)$", word):
            continue
        if following in ("and", "or") and not tail[j].endswith(","):  # "police and fire": nouns as often as verbs
            candidates.append(j)
            continue
        if not following and candidates and candidates[-1] == j - 2 and previous in ("and", "or"):
            return candidates[-1]  # "would cost and save": two verbs, and the clause turns on the first
        if (
            not following
            or following in _AFTER_VERB
            or following.endswith("ed")
            or tail[j + 1][:1].isupper()
            or following[:1].isdigit()
        ):
            return j
        candidates.append(j)
    return candidates[0] if candidates else len(lower)


# two-syllable verbs stressed at the end double their last letter: submit -> submitted
_STRESSED_LAST = frozenset(("submit", "commit", "admit", "permit", "omit", "refer", "prefer", "transfer", "control"))
_CLAUSE_VERBS = frozenset(("say", "think", "believe", "expect", "claim", "report", "estimate", "argue", "suggest"))


def _inflect(verb: str, aux: str) -> str:
    """The verb as the clause needs it once the auxiliary is gone: did + use -> used; does + match -> matches."""
    if aux == "do":
        return verb
    if aux == "does":
        if verb == "have":
            return "has"
        if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
            return verb + "es"
        if verb.endswith("y") and verb[-2:-1] not in "aeiou":
            return verb[:-1] + "ies"
        return verb + "s"
    if verb in IRREGULAR_PAST:
        return IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    if verb in _STRESSED_LAST or (re.fullmatch(r"[^aeiou]*[aeiou][bdgklmnprt]", verb) and len(verb) <= 4):
        return verb + verb[-1] + "ed"  # stop -> stopped, plan -> planned
    return verb + "ed"


def missing_sentence(intent: Intent, subject: str = "") -> str:
    """The lead of a partial answer: which detail the sources do not give."""
    if intent.clause:
        return f"The sources do not {intent.clause.rstrip(' ?.,')}."
    about = f" about {subject}" if subject else ""
    return f"The sources do not answer that question{about} directly."
