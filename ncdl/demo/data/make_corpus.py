"""Write ``circuits.txt``: an original English-like training text for character models.

The text is composed from a small hand-written grammar about a town whose
people build circuits out of boxes and wires, its weather, its workshop log
and its rules. A fixed seed makes the output identical on every run and
platform (only ``random.Random`` with integer arguments is used), so the file
in the repository can be checked against this script::

    python -m ncdl.demo.data.make_corpus            # rewrite ncdl/demo/data/circuits.txt
    python -m ncdl.demo.data.make_corpus --check    # exit 1 if the file differs

The grammar has enough regularity (recurring names, agreement of pronouns,
fixed report formats, numbered boxes that refer to each other) that a small
character-level model learns it well below the unigram entropy.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from ncdl.files import write_atomic

SEED = 20240611
TARGET_CHARS = 150_000
OUTPUT = Path(__file__).with_name("circuits.txt")

# ---- the vocabulary ---------------------------------------------------------------

PEOPLE = {  # name -> (subject, object, possessive)
    "Mira": ("she", "her", "her"),
    "Tobin": ("he", "him", "his"),
    "Oda": ("she", "her", "her"),
    "Pell": ("he", "him", "his"),
    "Wren": ("they", "them", "their"),
    "Ansel": ("he", "him", "his"),
    "Lark": ("she", "her", "her"),
    "Quill": ("they", "them", "their"),
}
JOBS = ["baker", "clockmaker", "ferry keeper", "teacher", "lamp mender", "miller", "post carrier", "weaver"]
PLACES = [
    "the workshop",
    "the bakery",
    "the mill",
    "the old bridge",
    "the market",
    "the school",
    "the lighthouse",
    "the river bank",
    "the station",
    "the library",
]
COLOURS = ["red", "blue", "green", "yellow", "black", "white", "grey", "copper"]
SIZES = ["small", "large", "narrow", "heavy", "light", "square", "round"]
THINGS = ["lamp", "bell", "clock", "pump", "radio", "fan", "gate", "kettle", "signal"]
DEADLINES = ["noon", "dusk", "supper", "the last ferry", "the market closed"]
TIMES = ["at dawn", "in the morning", "at noon", "after lunch", "in the evening", "at dusk", "late at night"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SKIES = ["clear", "cloudy", "foggy", "rainy", "windy", "bright", "grey and still", "stormy"]
WINDS = ["north", "south", "east", "west"]
OPS = {  # what a box does -> what it sends on
    "adds": "the sum",
    "multiplies": "the product",
    "compares": "the larger one",
    "mixes": "the blend",
    "counts": "the count",
    "copies": "both copies",
}
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
STATES = ["on", "off", "warm", "quiet", "broken", "ready"]
YES_NO = ["Not yet", "Yes, since noon", "Only when it rains", "I think so", "Ask the clockmaker", "Of course", "No"]
FEELINGS = ["pleased", "tired", "curious", "worried", "proud", "puzzled"]
RULES = [
    "a wire that leaves a box must enter another box",
    "every wire carries one kind of signal",
    "two wires with the same name are the same wire",
    "a box acts only on the wires it names",
    "wires that pass by a box are left as they are",
    "a copied wire carries the same signal twice",
    "a box with weights must be taught before it is trusted",
    "no wire may loop back without a clock between",
]


class Composer:
    """Draws sentences and paragraphs from the grammar with one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: list[str] | tuple[str, ...]) -> str:
        """One option, uniformly."""
        return options[self.rng.randrange(len(options))]

    def person(self) -> tuple[str, tuple[str, str, str]]:
        """A name and its pronouns."""
        name = self.pick(sorted(PEOPLE))
        return name, PEOPLE[name]

    def box(self) -> str:
        """``a small red box``."""
        size = self.pick(SIZES)
        article = "an" if size[0] in "aeiou" else "a"
        return f"{article} {size} {self.pick(COLOURS)} box"

    def wires(self) -> str:
        """``one wire``, ``three wires``."""
        n = self.pick(NUMBERS)
        return f"{n} wire" if n == "one" else f"{n} wires"

    # ---- paragraph kinds ----------------------------------------------------------

    def story(self) -> str:
        """A few sentences about one townsperson and a circuit."""
        name, (she, her, their) = self.person()
        job = self.pick(JOBS)
        thing = self.pick(THINGS)
        was = "were" if she == "they" else "was"
        first = [
            f"{name} the {job} went to {self.pick(PLACES)} {self.pick(TIMES)}.",
            f"{self.pick(TIMES).capitalize()}, {name} the {job} walked to {self.pick(PLACES)}.",
        ]
        middle = [
            f"{she.capitalize()} carried {self.box()} with {self.wires()}.",
            f"The {thing} at {self.pick(PLACES)} was {self.pick(STATES)} again.",
            f"{she.capitalize()} joined the {self.pick(COLOURS)} wire to the {thing}.",
            f"{she.capitalize()} opened the box and counted the wires.",
            f"A neighbour asked {her} to mend the {thing} before {self.pick(DEADLINES)}.",
            f"{their.capitalize()} old {thing} hummed when the wires were warm.",
            f"{she.capitalize()} {was} {self.pick(FEELINGS)}, so {she} drew the circuit on paper first.",
        ]
        last = [
            f"By {self.pick(DEADLINES)} the {thing} was {self.pick(STATES)}.",
            f"Then {she} went home.",
            f"{name} wrote the circuit in {their} notebook.",
            f"Everyone at {self.pick(PLACES)} heard the {thing}.",
        ]
        body = self.rng.sample(middle, self.rng.randint(2, 4))
        return " ".join([self.pick(first), *body, self.pick(last)])

    def schematic(self) -> str:
        """A chain of numbered boxes, each feeding the next."""
        count = self.rng.randint(2, 5)
        start = self.rng.randint(1, 9)
        lines = []
        for k in range(start, start + count):
            op = self.pick(sorted(OPS))
            a, b = self.rng.sample(COLOURS, 2)
            if k + 1 < start + count:
                lines.append(
                    f"Box {k} takes the {a} wire and the {b} wire, {op} them and sends {OPS[op]} to box {k + 1}."
                )
            else:
                lines.append(f"Box {k} {op} what it gets and lights the {self.pick(THINGS)}.")
        return " ".join(lines)

    def weather(self) -> str:
        """A fixed-format weather report."""
        day = self.pick(DAYS)
        sky = self.pick(SKIES)
        low = self.rng.randint(1, 14)
        high = low + self.rng.randint(2, 12)
        wind = self.rng.randint(2, 40)
        note = self.pick(
            [
                "Keep the boxes dry.",
                "Good weather for the market.",
                "The ferry will run late.",
                "Wires may hum in the cold.",
                "Bring a lamp after dusk.",
            ]
        )
        return f"Weather for {day}: {sky}, {low} to {high} degrees, wind from the {self.pick(WINDS)} at {wind} km/h. {note}"

    def dialogue(self) -> str:
        """Two people talk about a thing."""
        a, b = self.rng.sample(sorted(PEOPLE), 2)
        thing = self.pick(THINGS)
        kind = self.rng.randrange(4)
        if kind == 0:
            question, answer = f"Is the {thing} {self.pick(STATES)}?", self.pick(YES_NO)
        elif kind == 1:
            question, answer = f"Who wired the {thing}?", f"{self.pick(sorted(PEOPLE))} did, {self.pick(TIMES)}"
        elif kind == 2:
            question = f"Where does the {self.pick(COLOURS)} wire go?"
            answer = f"To box {self.rng.randint(1, 9)}, then to the {thing}"
        else:
            question, answer = f"Can the {thing} run on {self.wires()}?", self.pick(YES_NO)
        return f'"{question}" asked {a}. "{answer}," said {b}.'

    def log(self) -> str:
        """A workshop log entry."""
        n = self.rng.randint(1, 99)
        name, _ = self.person()
        return (
            f"Log {n}: {name} tested {self.box()}; {self.wires()} in, "
            f"{self.wires()} out; the {self.pick(THINGS)} is {self.pick(STATES)}."
        )

    def rule(self) -> str:
        """A rule of the workshop."""
        k = self.rng.randrange(len(RULES))
        return f"Rule {k + 1}: {RULES[k]}."

    def paragraph(self) -> str:
        """One paragraph of a randomly chosen kind."""
        kinds = [self.story, self.story, self.schematic, self.weather, self.dialogue, self.log, self.rule]
        first = self.pick(kinds)()
        if first.startswith(('"', "Log", "Rule")):  # short kinds come in runs
            more = [self.pick([self.dialogue, self.log, self.rule])() for _ in range(self.rng.randint(1, 3))]
            return "\n".join([first, *more])
        return first


def compose(seed: int = SEED, target: int = TARGET_CHARS) -> str:
    """The whole text: paragraphs separated by blank lines, at least ``target`` characters."""
    composer = Composer(seed)
    parts: list[str] = []
    size = 0
    while size < target:
        part = composer.paragraph()
        parts.append(part)
        size += len(part) + 2
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the shipped text."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (default: the shipped file)")
    args = parser.parse_args(argv)
    data = compose().encode("ascii")
    if args.check:
        same = args.output.exists() and args.output.read_bytes() == data
        print(f"{args.output}: {'up to date' if same else 'differs from the generator'}")
        return 0 if same else 1
    write_atomic(args.output, data)
    print(f"wrote {args.output} ({len(data):,} bytes, {len(set(data))} distinct characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
