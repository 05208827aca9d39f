"""Read a multimap file as dCache's gPlazma does and say what it would drop or refuse.

The rules, from dCache's GplazmaMultiMapFile and org.dcache.util.Args: the file is strict UTF-8
(one bad byte and dCache cannot read any of it); lines end at \\n, \\r or \\r\\n and are trimmed of
characters up to U+0020; empty lines and lines starting with `#` are skipped; words are split on
Java whitespace, `"..."` quotes with backslash escapes, `'...'` quotes without; a backslash
before `'`, `"`, space, `-` or `\\` stands for that character, before anything else it stays;
a word that starts with an unquoted `-` is an option and is not a word at all (`--` ends
options); each word is `type:value`, split at the first `:`; a line needs a matcher and at least
one mapped word, and one bad word drops the whole line. An `oidc:` matcher is split at its last
`@` into subject and OP alias, and a login whose subject equals the whole value matches too.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field

from campaigns.exports.multimap import JAVA_WHITESPACE

LABELS = {
    "dn",
    "email",
    "entitlement",
    "fqan",
    "gid",
    "group",
    "kerberos",
    "oidc",
    "oidcgrp",
    "op",
    "uid",
    "username",
}
GROUP_LABELS = {"gid", "group", "fqan", "oidcgrp"}
_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])"
    r"|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))",
    re.IGNORECASE,
)
_JAVA_LONG = re.compile(r"[+-]?[0-9]+")
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    mappings: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def args_words(line: str) -> list[str]:
    """The arguments dCache's Args scanner finds in a line (options left out)."""
    words: list[str] = []
    i, n, options_ended = 0, len(line), False

    def element(word: list[str]) -> None:
        nonlocal i
        c = line[i]
        if c == "'":
            end = line.find("'", i + 1)
            end = n if end < 0 else end
            word.append(line[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\":
                    escape(word)
                else:
                    word.append(line[i])
                    i += 1
            i += 1
        elif c == "\\":
            escape(word)
        else:
            word.append(c)
            i += 1

    def escape(word: list[str]) -> None:
        nonlocal i
        i += 1
        if i < n:
            word.append(line[i] if line[i] in "'\" -\\" else "\\" + line[i])
            i += 1

    def blank() -> bool:
        return i < n and line[i] in JAVA_WHITESPACE

    while i < n and blank():
        i += 1
    while i < n:
        if not options_ended and line[i] == "-":
            i += 1
            key: list[str] = []
            while i < n and not blank():
                element(key)
                if i < n and line[i] == "=":
                    break
            if not key:
                words.append("-")
            elif i < n and line[i] == "=":
                i += 1
                while i < n and not blank():
                    element([])
            elif "".join(key) == "-":
                options_ended = True
        else:
            word: list[str] = []
            while i < n and not blank():
                element(word)
            words.append("".join(word))
        while i < n and blank():
            i += 1
    return words


def _java_long(text: str) -> int | None:
    if _JAVA_LONG.fullmatch(text) and -(2**63) <= int(text) < 2**63:
        return int(text)
    return None


def _word_problem(word: str, *, matcher: bool) -> str | None:
    label, colon, value = word.partition(":")
    if not colon:
        return f'missing ":" in "{word}"'
    if label not in LABELS:
        return f'unknown principal type "{label}" in "{word}"'
    if label in GROUP_LABELS and not (matcher and "," not in value):
        parts = value.split(",")
        if len(parts) > 2:
            return f'too many commas in "{value}" for {label}'
        value = parts[0]
    if label in ("uid", "gid"):
        number = _java_long(value)
        if number is None or (number < 0 and not (matcher and label == "gid")):
            return f'{label} value "{value}" is not a non-negative integer'
    if label == "email" and not _EMAIL.fullmatch(value):
        return f'"{value}" is not a valid email address'
    if label == "oidc":
        subject = value.rpartition("@")[0] if "@" in value and matcher else value
        if not subject.isascii() or len(subject) > 255:
            return f'OIDC subject in "{word}" is not ASCII or longer than 255 characters'
    return None


def verify_multimap(data: bytes, name: str = "multimap") -> Verification:
    """Every line dCache would drop, and every login it would map to two uids or usernames."""
    result = Verification()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result.problems.append(
            f"{name}:{line}: byte 0x{data[exc.start]:02X} is not UTF-8: dCache cannot read "
            "this file at all and refuses every login it would map."
        )
        return result
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    result.lines = len(lines)
    # matcher (type, value) -> [(line number, uids, usernames)]
    mapped: dict[tuple[str, str], list[tuple[int, set[str], set[str]]]] = defaultdict(list)
    for number, raw in enumerate(lines, start=1):
        line = raw.strip("".join(chr(c) for c in range(0x21)))
        if not line or line.startswith("#"):
            continue
        words = args_words(line)
        if len(words) < 2:
            missing = "a matcher" if not words else "mapped principals"
            result.problems.append(f"{name}:{number}: dCache drops this line: missing {missing}.")
            continue
        problems = [p for w in words[:1] if (p := _word_problem(w, matcher=True))]
        problems += [p for w in words[1:] if (p := _word_problem(w, matcher=False))]
        if problems:
            result.problems.append(
                f"{name}:{number}: dCache drops this line: {'; '.join(problems)}."
            )
            continue
        result.mappings += 1
        label, _, value = words[0].partition(":")
        uids = {w[4:] for w in words[1:] if w.startswith("uid:")}
        users = {w[9:] for w in words[1:] if w.startswith("username:")}
        mapped[(label, value)].append((number, {str(int(u)) for u in uids}, users))
    result.problems += _conflicts(mapped, name)
    return result


def _conflicts(mapped, name: str) -> list[str]:
    """Logins that several lines match with different uids or usernames."""
    problems = []
    oidc = {value: rows for (label, value), rows in mapped.items() if label == "oidc"}
    # Every OIDC login a line is written for: (subject, alias or None for "any provider").
    by_subject: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for value in oidc:
        subject, at, alias = value.rpartition("@")
        by_subject[subject if at else value].append((alias if at else None, value))
        if at:
            by_subject[value].append((None, value))  # the legacy rule: the whole value
    checks: list[tuple[str, list]] = []
    for (label, value), rows in mapped.items():
        if label != "oidc":
            checks.append((f"{label}:{value}", rows))
    for subject, entries in by_subject.items():
        aliases = {alias for alias, _ in entries if alias is not None} or {None}
        for alias in aliases:
            values = {v for a, v in entries if a is None or a == alias}
            rows = [row for v in sorted(values) for row in oidc[v]]
            where = f" at {alias}" if alias else ""
            checks.append((f"the OIDC login of subject {subject!r}{where}", rows))
    reported = set()
    for login, rows in checks:
        uids = set().union(*(uids for _, uids, _ in rows))
        users = set().union(*(users for _, _, users in rows))
        if len(uids) > 1 or len(users) > 1:
            numbers = tuple(sorted({number for number, _, _ in rows}))
            if numbers in reported:
                continue
            reported.add(numbers)
            clash = f"uids {', '.join(sorted(uids))}" if len(uids) > 1 else ""
            clash = clash or f"usernames {', '.join(sorted(users))}"
            problems.append(
                f"{name}:{','.join(map(str, numbers))}: {login} maps to {clash}: dCache refuses "
                "that login. Keep one mapping for it."
            )
    return problems
