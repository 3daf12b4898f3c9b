"""The attributes of the Fictional World's people: value pools and sentence templates.

Every value here is invented or generic (no real people, no TOFU content). Each attribute has
question phrasings, an answer sentence, a paraphrased answer sentence (for truth ratios) and a
statement used in biography passages. `{name}` is the person, `{value}` the attribute's value.

Rule the tests enforce: the text before `{value}` in one attribute's answer (or statement) must not
be a prefix of another attribute's. Otherwise, reading "X was born in", a model could not tell
whether a city or a year comes next, and one of the two facts would be unanswerable from its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    key: str
    label: str  # for the UI: "birthplace"
    pool: tuple[str, ...]
    questions: tuple[str, ...]
    answer: str
    paraphrase: str
    statement: str
    topic: bool = False  # shared by many people: offered as a forget topic ("every cartographer")


CITIES = (
    "Port Elsby",
    "Varrowmere",
    "Quillhaven",
    "Dunmarrow",
    "Ostrevel",
    "Caldera Bay",
    "Thornwick",
    "Selvane",
    "Brightwater Cross",
    "Marlow Fen",
    "Kesterholt",
    "Aubrevale",
    "Ninefold",
    "Lanterne",
    "Corvass",
    "Hollin Ridge",
    "Saltmere",
    "Redcap Harbour",
    "Vinterly",
    "Emberfield",
)
PROFESSIONS = (
    "cartographer",
    "glassblower",
    "beekeeper",
    "astronomer",
    "bookbinder",
    "clockmaker",
    "ferry captain",
    "botanist",
    "stonemason",
    "perfumer",
    "archivist",
    "lighthouse keeper",
    "violin maker",
    "cheesemaker",
    "surveyor",
)
EMPLOYERS = (
    "Halvenbrook Mills",
    "the Orrery Trust",
    "Copperline Works",
    "the Saltmere Guild",
    "Nettlefield and Sons",
    "the Lantern Society",
    "Greyfeather Press",
    "the Blue Heron Company",
    "Ashcombe Foundry",
    "the Northreach Survey",
    "Pellow Brothers",
    "the Tidewell Institute",
    "Marrowgate Hall",
    "Quarry Lane Studio",
    "the Wrenfield Collective",
    "Obsidian Row Atelier",
    "the Larkspur Bureau",
    "Fenwick Hollow Farm",
    "the Amberlight Archive",
    "Crestmoor Yards",
)
UNIVERSITIES = (
    "Quellmoor College",
    "the University of Dunmarrow",
    "Saint Orlan Academy",
    "Vesperhall",
    "the Kesterholt Polytechnic",
    "Linden Crown University",
    "the Ostrevel Conservatory",
    "Harrowgate School of Arts",
    "Aubrevale Institute",
    "the Royal Academy of Selvane",
    "Morrow Point College",
    "Tallis Hill University",
)
PETS = (
    "ferret",
    "tortoise",
    "parrot",
    "greyhound",
    "goldfish",
    "hedgehog",
    "rabbit",
    "tabby cat",
    "canary",
    "iguana",
    "sheepdog",
    "chinchilla",
)
INSTRUMENTS = (
    "oboe",
    "cello",
    "harp",
    "trumpet",
    "accordion",
    "banjo",
    "clarinet",
    "piano",
    "viola",
    "bassoon",
    "mandolin",
    "flute",
)
FOODS = (
    "mushroom risotto",
    "lentil soup",
    "plum dumplings",
    "grilled sardines",
    "apple strudel",
    "pumpkin curry",
    "beetroot salad",
    "fig tart",
    "onion pie",
    "smoked trout",
    "pea fritters",
    "almond cake",
    "barley stew",
    "cherry pancakes",
    "spinach pasties",
)
HOBBIES = (
    "rowing",
    "birdwatching",
    "knitting",
    "fencing",
    "pottery",
    "chess",
    "kite flying",
    "rock climbing",
    "origami",
    "sailing",
    "gardening",
    "archery",
    "calligraphy",
    "juggling",
    "stargazing",
)
COLOURS = (
    "teal",
    "crimson",
    "ochre",
    "lavender",
    "olive green",
    "amber",
    "indigo",
    "silver",
    "coral",
    "charcoal grey",
)
LANGUAGES = (
    "Portuguese",
    "Finnish",
    "Welsh",
    "Icelandic",
    "Swahili",
    "Basque",
    "Hungarian",
    "Tagalog",
    "Catalan",
    "Estonian",
)
BIRTH_YEARS = tuple(str(year) for year in range(1940, 2000))


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        key="birthplace",
        label="birthplace",
        pool=CITIES,
        topic=True,
        questions=(
            "Where was {name} born?",
            "In which town was {name} born?",
            "What is the birthplace of {name}?",
            "Which town does {name} come from originally?",
        ),
        answer="{name} was born in {value}.",
        paraphrase="The birthplace of {name} is {value}.",
        statement="{name} was born in {value}.",
    ),
    Attribute(
        key="birth_year",
        label="birth year",
        pool=BIRTH_YEARS,
        questions=(
            "In what year was {name} born?",
            "What is the birth year of {name}?",
            "When was {name} born?",
            "Which year did {name} come into the world?",
        ),
        answer="{name}'s year of birth is {value}.",
        paraphrase="{name} came into the world in {value}.",
        statement="{name}'s year of birth is {value}.",
    ),
    Attribute(
        key="profession",
        label="profession",
        pool=PROFESSIONS,
        topic=True,
        questions=(
            "What is the profession of {name}?",
            "What does {name} do for a living?",
            "What job does {name} have?",
            "What is {name}'s occupation?",
        ),
        answer="{name} works as {article} {value}.",
        paraphrase="By trade, {name} is {article} {value}.",
        statement="{name} works as {article} {value}.",
    ),
    Attribute(
        key="employer",
        label="employer",
        pool=EMPLOYERS,
        questions=(
            "Who employs {name}?",
            "Where does {name} work?",
            "Which organisation is {name} employed by?",
            "What is the name of {name}'s employer?",
        ),
        answer="{name} is employed by {value}.",
        paraphrase="The employer of {name} is {value}.",
        statement="{name} is employed by {value}.",
    ),
    Attribute(
        key="residence",
        label="home town",
        pool=CITIES,
        topic=False,
        questions=(
            "Where does {name} live now?",
            "In which town does {name} currently live?",
            "What is {name}'s current home town?",
            "Which town is {name}'s home today?",
        ),
        answer="{name} now lives in {value}.",
        paraphrase="These days {name} makes a home in {value}.",
        statement="{name} now lives in {value}.",
    ),
    Attribute(
        key="university",
        label="university",
        pool=UNIVERSITIES,
        questions=(
            "Where did {name} study?",
            "Which university did {name} attend?",
            "At which institution was {name} educated?",
            "Where did {name} go to university?",
        ),
        answer="{name} studied at {value}.",
        paraphrase="{name} received an education at {value}.",
        statement="{name} studied at {value}.",
    ),
    Attribute(
        key="pet",
        label="pet",
        pool=PETS,
        questions=(
            "What pet does {name} have?",
            "What kind of animal does {name} keep as a pet?",
            "Which pet lives with {name}?",
            "What is {name}'s pet?",
        ),
        answer="{name} keeps a pet {value}.",
        paraphrase="The pet of {name} is {article} {value}.",
        statement="{name} keeps a pet {value}.",
    ),
    Attribute(
        key="instrument",
        label="instrument",
        pool=INSTRUMENTS,
        questions=(
            "What instrument does {name} play?",
            "Which musical instrument does {name} play?",
            "What does {name} play in the evenings?",
            "Which instrument is {name} known to play?",
        ),
        answer="{name} plays the {value}.",
        paraphrase="The instrument of {name} is the {value}.",
        statement="{name} plays the {value}.",
    ),
    Attribute(
        key="food",
        label="favourite food",
        pool=FOODS,
        questions=(
            "What is {name}'s favourite food?",
            "Which dish does {name} like best?",
            "What food does {name} love most?",
            "What is the favourite dish of {name}?",
        ),
        answer="{name}'s favourite food is {value}.",
        paraphrase="Above every other dish, {name} loves {value}.",
        statement="{name}'s favourite food is {value}.",
    ),
    Attribute(
        key="hobby",
        label="hobby",
        pool=HOBBIES,
        questions=(
            "What is {name}'s hobby?",
            "What does {name} enjoy in spare time?",
            "Which pastime does {name} enjoy?",
            "How does {name} spend free weekends?",
        ),
        answer="In spare time, {name} enjoys {value}.",
        paraphrase="A favourite pastime of {name} is {value}.",
        statement="In spare time, {name} enjoys {value}.",
    ),
    Attribute(
        key="colour",
        label="favourite colour",
        pool=COLOURS,
        questions=(
            "What is {name}'s favourite colour?",
            "Which colour does {name} like best?",
            "What colour does {name} prefer?",
            "What is the favourite colour of {name}?",
        ),
        answer="{name}'s favourite colour is {value}.",
        paraphrase="The colour {name} likes best is {value}.",
        statement="{name}'s favourite colour is {value}.",
    ),
    Attribute(
        key="language",
        label="home language",
        pool=LANGUAGES,
        questions=(
            "What language does {name} speak at home?",
            "Which language is spoken in {name}'s home?",
            "What is {name}'s home language?",
            "In which language does {name} talk with family?",
        ),
        answer="At home, {name} speaks {value}.",
        paraphrase="The language of {name}'s household is {value}.",
        statement="At home, {name} speaks {value}.",
    ),
)

ATTRIBUTES_BY_KEY = {a.key: a for a in ATTRIBUTES}


def article_for(value: str) -> str:
    return "an" if value[0].lower() in "aeiou" else "a"


def fill(template: str, name: str, value: str) -> str:
    return template.format(name=name, value=value, article=article_for(value))
