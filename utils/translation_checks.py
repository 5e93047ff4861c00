"""Checks of a translation against its English source (tests/test_translations.py runs them):

- structure: headings per level, fenced code blocks, formulas, the numbers of the prose, link and image targets;
- right-to-left: in Hebrew and Persian files, prose inside dir="rtl" blocks, code and display formulas outside.

The file formats, the generator and the status report are in utils/translations.py.
"""
import posixpath
import re
from collections import Counter
from urllib.parse import unquote

from .translations import (BADGE, HEADER, LANGUAGES_BLOCK, LINK_TARGET, ROOT, STALE_BLOCK, _is_url, english_at,
                           english_cell_at, generated_notebook, has_translation, read_cells_file, read_page,
                           translation_of)

# -------------------------------------------------------------------- structure: translation vs its English
FENCE_OPEN = re.compile(r"^( {0,3}(?:[-*+] |[0-9]+[.)] )?\s*)(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE_MATH = re.compile(r"\$([^$\n]+?)\$")
REF_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*(\S+).*$", re.M)
HTML_TARGET = re.compile(r"\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I)
AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
BARE_URL = re.compile(r"https?://[^\s<>()\[\]`*\"']+[^\s<>()\[\]`*\"'.,;:!?]")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
HEADING = re.compile(r"^ {0,3}(#{1,6})(?:\s|$)", re.M)
# A number: digits, with points between groups (0.5, 3.11.7). A comma or a space splits "32,768" in two on
# both sides alike; a decimal comma (0,5) reads as 0 and 5 and is caught.
NUMBER = re.compile(r"(?<![0-9])[0-9]+(?:\.[0-9]+)*")
# GitHub and Colab addresses of a translated file name the English one when compared.
TRANSLATED_URL = re.compile(r"(/blob/[^/]+/)translations/[a-z]{2}/")


def split_fences(text):
    """(the text with each fenced code block replaced by one empty line, [each block]); a block keeps its fence
    lines, without the indentation of its opening fence (a block inside a list item is compared as written)."""
    prose, blocks, block = [], [], None
    for line in text.split("\n"):
        if block is None:
            match = FENCE_OPEN.match(line)
            if match:
                indent, fence, block = len(match.group(1)), match.group(2), [line[len(match.group(1)):]]
            else:
                prose.append(line)
            continue
        block.append(line[indent:] if not line[:indent].strip() else line.lstrip())
        closing = line.strip()
        if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
            blocks.append("\n".join(block))
            block = None
            prose.append("")
    if block is not None:
        blocks.append("\n".join(block))
    return "\n".join(prose), blocks


def structure(text, rel, lang=None):
    """What a translation must keep of its English: headings per level, code blocks, formulas, numbers and
    link targets (resolved to repository paths from `rel`, the file's own place)."""
    prose, code = split_fences(HTML_COMMENT.sub("", text))
    headings = Counter(len(m.group(1)) for m in HEADING.finditer(prose))
    spans = []
    prose = CODE_SPAN.sub(lambda m: spans.append(m.group(0)) or f"\x00{len(spans) - 1}\x00", prose)
    display = [m.strip() for m in DISPLAY_MATH.findall(prose)]
    prose = DISPLAY_MATH.sub(" ", prose)
    inline = Counter(m.strip() for m in INLINE_MATH.findall(prose))
    prose = INLINE_MATH.sub(" ", prose)
    prose = re.sub("\x00([0-9]+)\x00", lambda m: spans[int(m.group(1))], prose)
    targets = []
    for pattern in (LINK_TARGET, REF_DEFINITION, HTML_TARGET, AUTOLINK, BARE_URL):
        targets += [m.group(1) if pattern is not BARE_URL else m.group(0) for m in pattern.finditer(prose)]
        prose = pattern.sub(" ", prose)
    links = {resolve(target.strip("<>"), rel, lang) for target in targets}
    return {"headings": headings, "code": code, "display": display, "inline": inline,
            "numbers": Counter(NUMBER.findall(prose)), "links": links}


def resolve(target, rel, lang=None):
    """A link target of the file `rel` as a repository path (or an address), its fragment stripped; a path
    inside translations/<lang>/ that mirrors a translated English file becomes that English path."""
    if _is_url(target):
        return TRANSLATED_URL.sub(r"\1", target.split("#", 1)[0])
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path)) if path else rel
    prefix = f"translations/{lang}/"
    if lang and resolved.startswith(prefix) and has_translation(resolved[len(prefix):]):
        return resolved[len(prefix):]
    if lang and has_translation(resolved):
        return f"{resolved} (the English file, not its translation)"
    return resolved


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a.split("\n"), b.split("\n"))):
        if x != y:
            return f"line {i + 1}: English {x!r}, translation {y!r}"
    return "one of them is longer"


def _counted(counter):
    return ", ".join(f"'{k}' (×{n})" if n > 1 else f"'{k}'" for k, n in sorted(counter.items()))


def compare(english, translation):
    """Sentences naming each way a translation's structure differs from its English, and how to fix it."""
    problems = []
    for level in sorted(set(english["headings"]) | set(translation["headings"])):
        a, b = english["headings"][level], translation["headings"][level]
        if a != b:
            problems.append(f"{'#' * level} headings: the English has {a}, the translation {b}; give each English "
                            f"heading one translated heading of the same level.")
    for kind, name in (("code", "fenced code blocks"), ("display", "$$ formulas")):
        a, b = english[kind], translation[kind]
        if len(a) != len(b):
            problems.append(f"{name}: the English has {len(a)}, the translation {len(b)}; copy every one, in order.")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                if x != y:
                    problems.append(f"{name}: number {i + 1} differs from the English ({_first_difference(x, y)}); "
                                    f"copy it byte for byte.")
    for kind, name in (("inline", "inline formulas"), ("numbers", "numbers")):
        only_english, only_translation = english[kind] - translation[kind], translation[kind] - english[kind]
        if only_english or only_translation:
            problems.append(f"{name} differ: only in the English {_counted(only_english) or 'none'}; only in the "
                            f"translation {_counted(only_translation) or 'none'}; write each exactly as the English "
                            f"does ({'unchanged, between $' if kind == 'inline' else 'Western digits, a point as the decimal mark'}).")
    only_english = english["links"] - translation["links"]
    only_translation = translation["links"] - english["links"]
    if only_english or only_translation:
        problems.append(f"links differ: only the English reaches {sorted(only_english) or 'nothing more'}; only the "
                        f"translation reaches {sorted(only_translation) or 'nothing more'}; a link to a README, lesson or "
                        f"notebook keeps the English text, a link to any other file climbs to the English file "
                        f"(figures/x.png becomes ../../../lessons/figures/x.png in a lesson).")
    return problems


def strip_generated(text):
    """A file's text without the header line and the tool's blocks (languages, stale note)."""
    return STALE_BLOCK.sub("", LANGUAGES_BLOCK.sub("", HEADER.sub("", text, count=1)))


def page_problems(lang, rel, root=ROOT):
    """Structure problems of the translated page of English page `rel`, against the version it records."""
    here = translation_of(lang, rel)
    _, recorded, _ = read_page(here, root)
    english = strip_generated(english_at(rel, recorded, root))
    translated = strip_generated((root / here).read_text(encoding="utf-8"))
    return compare(structure(english, rel), structure(translated, here, lang))


def cells_problems(lang, rel, root=ROOT):
    """Structure problems of each cell of a cells file, against the English cell of the recorded hash."""
    here = generated_notebook(lang, rel)
    problems = []
    for cell_id, (recorded, text) in read_cells_file(lang, rel, root).items():
        english = BADGE.sub("", english_cell_at(rel, cell_id, recorded, root))
        problems += [f"cell {cell_id}: {p}" for p in compare(structure(english, rel), structure(text, here, lang))]
    return problems


# ------------------------------------------------------------------------------------- right to left
OPEN_TAG = re.compile(r"^\s*<(div|details)\b([^>]*)>", re.I)   # the block elements a translation wraps prose in
CLOSE_TAG = re.compile(r"^\s*</(div|details)>\s*$", re.I)
DIRECTION = re.compile(r"\bdir\s*=\s*[\"'](rtl|ltr)[\"']", re.I)
TAG = re.compile(r"<[^>]*>")
LETTER = re.compile(r"[^\W\d_]")


def rtl_problems(text):
    """Where a Hebrew or Persian text breaks the rules: prose outside a <div dir="rtl"> (or an element with
    dir="rtl"), a code block or a $$ formula inside one, a div without blank lines around its Markdown, a div
    never closed."""
    lines = strip_generated(text).split("\n")
    problems, open_tags, i, in_paragraph = [], [], 0, False

    def say(number, sentence):
        problems.append(f"line {number}: {sentence}")

    while i < len(lines):
        line, blank_after = lines[i], i + 1 >= len(lines) or not lines[i + 1].strip()
        # the innermost element that sets a direction decides it (<div dir="ltr"> inside an rtl one is left to right)
        inside = next((d for _, d, _ in reversed(open_tags) if d), None) == "rtl"
        fence, opening, closing = FENCE_OPEN.match(line), OPEN_TAG.match(line), CLOSE_TAG.match(line)
        prose = LETTER.search(TAG.sub("", line)) and not line.strip().startswith("<!--")
        if opening:
            tag, direction = opening.group(1).lower(), DIRECTION.search(opening.group(2))
            direction = direction and direction.group(1).lower()
            open_tags.append((tag, direction, i + 1))
            if tag == "div" and not line[opening.end():].strip() and not blank_after:
                say(i + 1, "put a blank line after the <div>, or the Markdown inside it is not rendered.")
            prose = LETTER.search(TAG.sub("", line[opening.end():]))
            inside = direction == "rtl" if direction else inside
        elif closing:
            tag = closing.group(1).lower()
            if tag not in (t for t, _, _ in open_tags):
                say(i + 1, f"</{tag}> closes nothing: remove it.")
            else:
                open_tags.pop(max(k for k, (t, _, _) in enumerate(open_tags) if t == tag))
            if tag == "div" and i > 0 and lines[i - 1].strip() and not CLOSE_TAG.match(lines[i - 1]):
                say(i + 1, "put a blank line before the </div>, or the Markdown before it is not rendered.")
        elif fence or line.strip().startswith("$$"):
            if inside:
                say(i + 1, f"{'a code block' if fence else 'a $$ formula'} inside <div dir=\"rtl\">: close the div "
                           "before it and reopen it after, so it stays left to right.")
            i, in_paragraph = _skip_block(lines, i, fence), False
            continue
        if prose and not inside and not in_paragraph:
            say(i + 1, f"prose outside <div dir=\"rtl\"> ({line.strip()[:40]!r}): put it inside one, or give "
                           "its element dir=\"rtl\" (<details dir=\"rtl\">).")
        in_paragraph = bool(line.strip()) and (in_paragraph or bool(prose))
        i += 1
    for tag, _, number in open_tags:
        say(number, f"this <{tag}> is never closed: add </{tag}>{' (after a blank line)' if tag == 'div' else ''}.")
    return problems


def _skip_block(lines, i, fence):
    """The index after the code block or $$ formula that starts at line i."""
    if fence:
        mark = fence.group(2)
        for j in range(i + 1, len(lines)):
            closing = lines[j].strip()
            if closing and set(closing) == {mark[0]} and len(closing) >= len(mark):
                return j + 1
        return len(lines)
    first = lines[i].strip()
    if first.count("$$") >= 2 and first != "$$":
        return i + 1
    for j in range(i + 1, len(lines)):
        if "$$" in lines[j]:
            return j + 1
    return len(lines)


