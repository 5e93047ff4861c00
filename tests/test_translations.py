"""The course's translations (translations/<lang>/, utils/translations.py, `make translations`).

Two halves. The first checks the translations in this repository as they are: each language has its files
(those translations/MANIFEST asks for), each translated file has the structure of the English version it
records (headings, code blocks, formulas, numbers, links), Hebrew and Persian keep prose right to left and code
left to right, and what `make translations` generates is current. The second runs the same checks and the tool
on a small course in a temporary folder, to show that each check fails when it should.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from utils import colab, student
from utils import translation_checks as checks
from utils import translations as tr

ROOT = Path(__file__).resolve().parent.parent
PAGES = [(lang, rel) for lang in tr.LANGUAGES for rel in tr.english_pages()
         if (ROOT / tr.translation_of(lang, rel)).exists()]
CELLS = [(lang, rel) for lang in tr.LANGUAGES for rel in tr.english_notebooks()
         if (ROOT / tr.translation_of(lang, rel)).exists()]
GENERATED = [(lang, rel) for lang, rel in CELLS if (ROOT / tr.generated_notebook(lang, rel)).exists()]
REGENERATE = "run `make translations` and commit what it writes"


def ids(pairs):
    return [f"{lang}/{rel}" for lang, rel in pairs]


# ============================================================================ the repository's translations
def test_manifest_names_english_files_that_are_translated():
    for rel in tr.manifest():
        assert (ROOT / rel).exists(), f"translations/MANIFEST lists {rel}, which does not exist: remove the line."
        assert tr.has_translation(rel), (f"translations/MANIFEST lists {rel}, which is not translated (only README.md, "
                                         f"lessons/NN_slug.md and notebooks/NN_slug.ipynb are): remove the line.")


@pytest.mark.parametrize("lang", tr.LANGUAGES)
def test_language_has_its_files(lang):
    """GLOSSARY.md, strings.json and a translation of every English file in translations/MANIFEST (a lesson
    added to the English later is listed there once its translations exist, so it never fails this test)."""
    for name in ("GLOSSARY.md", "strings.json"):
        assert (ROOT / "translations" / lang / name).exists(), f"translations/{lang}/{name} is missing: write it."
    missing = [tr.translation_of(lang, rel) for rel in tr.manifest() if not (ROOT / tr.translation_of(lang, rel)).exists()]
    assert not missing, (f"{', '.join(missing)} missing: translate them, or take their English files out of "
                         f"translations/MANIFEST until every language has them.")


@pytest.mark.parametrize("lang", tr.LANGUAGES)
def test_strings(lang):
    path = ROOT / "translations" / lang / "strings.json"
    if not path.exists():
        pytest.skip(f"translations/{lang}/strings.json is not written yet (test_language_has_its_files names it)")
    found = json.loads(path.read_text(encoding="utf-8"))
    for key in tr.STRING_KEYS:
        assert isinstance(found.get(key), str) and found[key].strip(), f"translations/{lang}/strings.json needs \"{key}\"."
    assert "{source}" in found["stale"], f"translations/{lang}/strings.json: \"stale\" must contain {{source}} literally."


@pytest.mark.parametrize("lang", tr.LANGUAGES)
def test_glossary_is_a_table(lang):
    path = ROOT / "translations" / lang / "GLOSSARY.md"
    if not path.exists():
        pytest.skip(f"translations/{lang}/GLOSSARY.md is not written yet (test_language_has_its_files names it)")
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip().startswith("|")]
    assert rows and "English" in rows[0], f"translations/{lang}/GLOSSARY.md: start its table with | English | ... |."
    assert len(rows) >= 22, f"translations/{lang}/GLOSSARY.md has {len(rows) - 2} terms: the course needs 20 or more."


@pytest.mark.parametrize("lang", tr.LANGUAGES)
def test_nothing_else_in_the_language_folder(lang):
    """Only the files a translation consists of, each mirroring an English file that exists."""
    folder = ROOT / "translations" / lang
    expected = {"GLOSSARY.md", "strings.json"}
    for rel in tr.english_pages() + tr.english_notebooks():
        expected |= {tr.translation_of(lang, rel).split("/", 2)[2], tr.generated_notebook(lang, rel).split("/", 2)[2]}
    tracked = subprocess.run(["git", "ls-files", "--", f"translations/{lang}"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
    stray = sorted(rel for rel in found if rel not in expected and f"translations/{lang}/{rel}" in tracked)
    assert not stray, (f"translations/{lang}/ holds {', '.join(stray)}, which mirror no English README, lesson or "
                       f"notebook: rename them after their English file, or remove them.")


@pytest.mark.parametrize("lang, rel", PAGES, ids=ids(PAGES))
def test_page_has_the_structure_of_its_english(lang, rel):
    problems = checks.page_problems(lang, rel)
    assert not problems, f"{tr.translation_of(lang, rel)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("lang, rel", CELLS, ids=ids(CELLS))
def test_cells_have_the_structure_of_their_english(lang, rel):
    problems = checks.cells_problems(lang, rel)
    assert not problems, f"{tr.translation_of(lang, rel)}:\n  " + "\n  ".join(problems)


RTL_FILES = [(lang, rel) for lang, rel in PAGES + CELLS if lang in tr.RTL]


@pytest.mark.parametrize("lang, rel", RTL_FILES, ids=ids(RTL_FILES))
def test_right_to_left(lang, rel):
    """Hebrew and Persian: prose inside <div dir="rtl">, code and $$ formulas outside (each cell on its own)."""
    here = tr.translation_of(lang, rel)
    if rel.endswith(".ipynb"):
        texts = [(f"cell {cell_id}: ", text) for cell_id, (_, text) in tr.read_cells_file(lang, rel).items()]
    else:
        texts = [("", (ROOT / here).read_text(encoding="utf-8"))]
    problems = [where + p for where, text in texts for p in checks.rtl_problems(text)]
    assert not problems, f"{here}:\n  " + "\n  ".join(problems)


def test_generated_files_are_current():
    """Translated notebooks, the language lines of every page and the notes on stale translations are what
    `make translations` writes."""
    stale = tr.out_of_date()
    assert not stale, f"{', '.join(stale)}: not as `make translations` writes them; {REGENERATE}."


@pytest.mark.parametrize("lang, rel", GENERATED, ids=ids(GENERATED))
def test_generated_notebook_is_the_english_one_with_translated_text(lang, rel):
    english = student.read(ROOT / rel)
    here = tr.generated_notebook(lang, rel)
    translated = student.read(ROOT / here)
    assert_same_notebook_but_markdown(english, translated, here)
    title = "".join(next(c for c in translated["cells"] if c["cell_type"] == "markdown")["source"])
    assert title.startswith(colab.badge(here)), f"{here}: its Colab badge must open this very file; {REGENERATE}."


def assert_same_notebook_but_markdown(english, translated, where):
    assert translated["metadata"] == english["metadata"], f"{where}: notebook metadata differ from the English; {REGENERATE}."
    assert [(c["id"], c["cell_type"], c["metadata"]) for c in translated["cells"]] == \
        [(c["id"], c["cell_type"], c["metadata"]) for c in english["cells"]], f"{where}: cells differ; {REGENERATE}."
    code = [c for c in english["cells"] if c["cell_type"] == "code"]
    assert [c for c in translated["cells"] if c["cell_type"] == "code"] == code, \
        f"{where}: its code cells differ from the English notebook's; {REGENERATE}."


RELATIVE_PATH = re.compile(r"[\"'](\.\.?/|lessons/|notebooks/|utils/|benchmarks/)")


@pytest.mark.parametrize("rel", tr.english_notebooks(), ids=lambda r: Path(r).stem)
def test_code_does_not_depend_on_the_notebook_folder(rel):
    """Translated notebooks run two folders deeper with the same code: a path relative to the working directory
    would break there, so code reaches files through REPO_ROOT (utils.settings)."""
    for cell in student.read(ROOT / rel)["cells"]:
        if cell["cell_type"] == "code" and cell["id"] != "colab-setup":
            found = RELATIVE_PATH.search(tr.cell_source(cell))
            assert not found, (f"{rel}, cell {cell['id']}: a path relative to the notebook's folder "
                               f"({found.group(0)}...) breaks its translations: build it from REPO_ROOT.")


def test_make_test_runs_one_translated_notebook_per_language():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = makefile.split("TRANSLATED_NOTEBOOKS :=", 1)[1].split(")\n", 1)[0]
    listed = re.findall(r"translations/([a-z]{2})/(notebooks/\S+\.ipynb)", block)
    assert sorted(lang for lang, _ in listed) == sorted(tr.LANGUAGES), "the Makefile runs one notebook per language"
    for lang, rel in listed:
        assert (ROOT / rel).exists(), f"the Makefile runs translations/{lang}/{rel}, whose English {rel} is gone."
        if rel in tr.manifest():
            assert (ROOT / tr.generated_notebook(lang, rel)).exists(), \
                f"translations/{lang}/{rel} is missing, so `make test` cannot run it; {REGENERATE}."


# ============================================================================ the tool, on a small course
COLAB_LINK = colab.lesson_link("notebooks/01_demo.ipynb")

README = """# Demo course

A course in 1 lesson. Start with [lesson 01](lessons/01_demo.md); instructors read [the guide](docs/guide.md).
"""

LESSON = f"""# 01 · Demo

{COLAB_LINK}

**Notebook:** [`notebooks/01_demo.ipynb`](../notebooks/01_demo.ipynb)

## The idea
The temperature is 0.07, so the scale is 14.3 (see [the loss](#the-loss)).

![A figure of 2 towers](figures/x.png)

```python
loss = clip_loss(a, b, 14.3)
```

## The loss
$$L = \\frac{{1}}{{2}}(a + b)$$

A cosine $\\cos(a, b)$ is 1 for the same direction. The code: [utils/losses.py](../utils/losses.py).
"""

SL_README = """# Predmet za poskus

Predmet z 1 lekcijo. Začnite z [lekcijo 01](lessons/01_demo.md); inštruktorji berejo [vodnik](../../docs/guide.md).
"""

SL_LESSON = f"""# 01 · Poskus

{COLAB_LINK}

**Zvezek:** [`notebooks/01_demo.ipynb`](../notebooks/01_demo.ipynb)

## Zamisel
Temperatura je 0.07, zato je merilo 14.3 (glejte [izgubo](#izguba)).

![Slika 2 stolpov](../../../lessons/figures/x.png)

```python
loss = clip_loss(a, b, 14.3)
```

## Izguba
$$L = \\frac{{1}}{{2}}(a + b)$$

Kosinus $\\cos(a, b)$ je 1 za isto smer. Koda: [utils/losses.py](../../../utils/losses.py).
"""

HE_LESSON = f"""<div dir="rtl">

# 01 · הדגמה

{COLAB_LINK}

**מחברת:** [`notebooks/01_demo.ipynb`](../notebooks/01_demo.ipynb)

## הרעיון
הטמפרטורה היא 0.07, ולכן קנה המידה הוא 14.3 (ראו [ההפסד](#ההפסד)).

![איור של 2 מגדלים](../../../lessons/figures/x.png)

</div>

```python
loss = clip_loss(a, b, 14.3)
```

<div dir="rtl">

## ההפסד

</div>

$$L = \\frac{{1}}{{2}}(a + b)$$

<div dir="rtl">

קוסינוס $\\cos(a, b)$ הוא 1 לאותו כיוון. הקוד: [utils/losses.py](../../../utils/losses.py).

</div>
"""

TITLE_CELL = "# 01 · Demo\n\nThe lesson: [lesson 01](../lessons/01_demo.md); a figure: [x](../lessons/figures/x.png)."
PART_CELL = "## Part 2\n\nThe scale is 14.3 and the loss $L$ is small."


def notebook(cells):
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4, "nbformat_minor": 5}


def markdown(cell_id, text, slide="slide"):
    return {"cell_type": "markdown", "id": cell_id, "metadata": {"slideshow": {"slide_type": slide}},
            "source": colab._source_lines(text)}


def code(cell_id, text):
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
            "source": colab._source_lines(text)}


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def hashed(root, rel):
    return f"<!-- translation-of: {rel} sha256:{tr.file_hash(root / rel)} -->\n"


def cells_file(root, title, part):
    marks = {cell_id: digest for cell_id, _, digest in tr.markdown_cells(root / "notebooks/01_demo.ipynb")}
    return ("<!-- translation-of: notebooks/01_demo.ipynb -->\n"
            f"<!-- cell: title sha256:{marks['title']} -->\n{title}\n\n"
            f"<!-- cell: part sha256:{marks['part']} -->\n{part}\n")


@pytest.fixture
def course(tmp_path):
    """A one-lesson course with its Slovenian and Hebrew translations, committed to a git repository."""
    root = tmp_path / "course"
    (root / "lessons" / "figures").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "README.md").write_text(README, encoding="utf-8")
    (root / "lessons" / "01_demo.md").write_text(LESSON, encoding="utf-8")
    (root / "lessons" / "figures" / "x.png").write_bytes(b"png")
    nb = notebook([markdown("title", colab.badge("notebooks/01_demo.ipynb") + "\n\n" + TITLE_CELL),
                   code("setup", "x = 1"), markdown("part", PART_CELL, slide="-"), code("show", "print(x)")])
    (root / "notebooks" / "01_demo.ipynb").write_text(student.dumps(nb), encoding="utf-8")
    for lang, name in (("sl", "Slovenščina"), ("he", "עברית")):
        folder = root / "translations" / lang
        (folder / "lessons").mkdir(parents=True)
        (folder / "notebooks").mkdir()
        (folder / "strings.json").write_text(json.dumps({
            "language": name, "other_languages": f"[{lang}] other languages:",
            "stale": f"[{lang}] behind {{source}}, read the English."}, ensure_ascii=False), encoding="utf-8")
    sl = root / "translations" / "sl"
    (sl / "README.md").write_text(hashed(root, "README.md") + SL_README, encoding="utf-8")
    (sl / "lessons" / "01_demo.md").write_text(hashed(root, "lessons/01_demo.md") + SL_LESSON, encoding="utf-8")
    (sl / "notebooks" / "01_demo.cells.md").write_text(cells_file(
        root, "# 01 · Poskus\n\nLekcija: [lekcija 01](../lessons/01_demo.md); slika: [x](../../../lessons/figures/x.png).",
        "## 2. del\n\nMerilo je 14.3 in izguba $L$ je majhna."), encoding="utf-8")
    he = root / "translations" / "he"
    (he / "lessons" / "01_demo.md").write_text(hashed(root, "lessons/01_demo.md") + HE_LESSON, encoding="utf-8")
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.org")
    git(root, "config", "user.name", "test")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one lesson")
    return root


def edit(root, rel, old, new):
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the fixture has no {old!r} in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_faithful_translation_passes(course):
    assert checks.page_problems("sl", "README.md", course) == []
    assert checks.page_problems("sl", "lessons/01_demo.md", course) == []
    assert checks.page_problems("he", "lessons/01_demo.md", course) == []
    assert checks.cells_problems("sl", "notebooks/01_demo.ipynb", course) == []
    assert checks.rtl_problems((course / "translations/he/lessons/01_demo.md").read_text(encoding="utf-8")) == []


SL = "translations/sl/lessons/01_demo.md"


@pytest.mark.parametrize("old, new, expected", [
    ("je 0.07", "je 0,07", "numbers differ: only in the English '0.07'; only in the translation '0', '07'"),
    ("merilo 14.3 (", "merilo 14.5 (", "numbers differ: only in the English '14.3'; only in the translation '14.5'"),
    ("Slika 2 stolpov", "Slika dveh stolpov", "numbers differ: only in the English '2'; only in the translation none"),
    ("## Zamisel\n", "**Zamisel**\n", "## headings: the English has 2, the translation 1"),
    ("## Izguba", "### Izguba", "### headings: the English has 0, the translation 1"),
    ("clip_loss(a, b, 14.3)", "clip_loss(a, b, 14.3)  # izguba", "fenced code blocks: number 1 differs"),
    ("```python\nloss = clip_loss(a, b, 14.3)\n```\n", "", "fenced code blocks: the English has 1, the translation 0"),
    ("(a + b)$$", "(a+b)$$", "$$ formulas: number 1 differs"),
    ("$\\cos(a, b)$", "$\\operatorname{cos}(a, b)$", "inline formulas differ"),
    ("../../../lessons/figures/x.png", "figures/x.png", "only the translation reaches ['translations/sl/lessons/figures/x.png']"),
    ("[utils/losses.py](../../../utils/losses.py)", "utils/losses.py", "only the English reaches ['utils/losses.py']"),
    ("(../notebooks/01_demo.ipynb)", "(../../../notebooks/01_demo.ipynb)",
     "only the translation reaches ['notebooks/01_demo.ipynb (the English file, not its translation)']"),
])
def test_each_difference_from_the_english_is_named(course, old, new, expected):
    edit(course, SL, old, new)
    problems = checks.page_problems("sl", "lessons/01_demo.md", course)
    assert any(expected in p for p in problems), problems


def test_a_link_to_a_translated_heading_and_a_translated_sibling_is_fine(course):
    structure = checks.structure(SL_LESSON, SL, "sl")
    assert {"lessons/01_demo.md", "notebooks/01_demo.ipynb", "lessons/figures/x.png"} <= structure["links"]


def test_numbers_inside_code_and_link_targets_do_not_count():
    text = "Run `f(3)` in [cell 4](../notebooks/05_x.ipynb#cell-6) or:\n\n```\nx = 7\n```\n"
    assert checks.structure(text, "lessons/01_x.md")["numbers"] == {"3": 1, "4": 1}


def test_a_cell_that_differs_is_named(course):
    edit(course, "translations/sl/notebooks/01_demo.cells.md", "Merilo je 14.3", "Merilo je 14,3")
    problems = checks.cells_problems("sl", "notebooks/01_demo.ipynb", course)
    assert len(problems) == 1 and problems[0].startswith("cell part: numbers differ"), problems


@pytest.mark.parametrize("old, new, expected", [
    ("</div>\n\n```python", "```python", "a code block inside <div dir=\"rtl\">"),
    ("<div dir=\"rtl\">\n\n## ההפסד\n\n</div>\n", "## ההפסד\n", "prose outside <div dir=\"rtl\">"),
    ("</div>\n\n$$L", "$$L", "a $$ formula inside <div dir=\"rtl\">"),
    ("<div dir=\"rtl\">\n\n# 01", "<div dir=\"rtl\">\n# 01", "put a blank line after the <div>"),
    ("כיוון. הקוד: [utils/losses.py](../../../utils/losses.py).\n\n</div>\n",
     "כיוון. הקוד: [utils/losses.py](../../../utils/losses.py).\n", "never closed"),
])
def test_right_to_left_mistakes_are_named(course, old, new, expected):
    edit(course, "translations/he/lessons/01_demo.md", old, new)
    problems = checks.rtl_problems((course / "translations/he/lessons/01_demo.md").read_text(encoding="utf-8"))
    assert any(expected in p for p in problems), problems


def test_an_element_with_dir_rtl_holds_prose_too():
    answer = "<details{}><summary>תשובה</summary>\n\n<div dir=\"rtl\">\n\nכי כך.\n\n</div>\n</details>"
    assert checks.rtl_problems(answer.format(' dir="rtl"')) == []
    problems = checks.rtl_problems(answer.format(""))
    assert len(problems) == 1 and problems[0].startswith("line 1: prose outside"), problems
    code = '<div dir="rtl">\n\nכי:\n\n<div dir="ltr">\n\n```python\nx = 1\n```\n\n</div>\n\nכך.\n\n</div>'
    assert checks.rtl_problems(code) == [], "code in a <div dir=\"ltr\"> inside the rtl one stays left to right"
    assert "a code block inside" in checks.rtl_problems(code.replace('dir="ltr"', 'class="x"'))[0]


def test_make_translations_generates_notebooks_and_language_lines(course):
    written = tr.write_all(course)
    assert "translations/sl/notebooks/01_demo.ipynb" in written
    assert tr.write_all(course) == [] and tr.out_of_date(course) == [], "a second run must change nothing"

    english = student.read(course / "notebooks/01_demo.ipynb")
    here = "translations/sl/notebooks/01_demo.ipynb"
    translated = student.read(course / here)
    assert_same_notebook_but_markdown(english, translated, here)
    title = tr.cell_source(translated["cells"][0])
    assert title.startswith(colab.badge(here) + "\n\n# 01 · Poskus") and "stale" not in title
    assert tr.cell_source(translated["cells"][2]).startswith("## 2. del")

    lesson = (course / "lessons/01_demo.md").read_text(encoding="utf-8")
    assert lesson.split("\n")[2] == COLAB_LINK, "the languages line comes after the lesson's Colab link"
    assert ("<!-- languages -->\nThis page in other languages: [עברית](../translations/he/lessons/01_demo.md) · "
            "[Slovenščina](../translations/sl/lessons/01_demo.md)\n<!-- /languages -->\n\n**Notebook:**") in lesson
    assert tr.file_hash(course / "lessons/01_demo.md") == tr.page_hash(LESSON), "the block is not part of the hash"
    readme = (course / "README.md").read_text(encoding="utf-8")
    assert "[Slovenščina](translations/sl/README.md)" in readme and "עברית" not in readme, "he has no README"

    sl = (course / SL).read_text(encoding="utf-8")
    assert "[sl] other languages: [English](../../../lessons/01_demo.md) · [עברית](../../he/lessons/01_demo.md)" in sl
    assert colab.lesson_link(here.replace(".ipynb", "").replace("notebooks/01_demo", "notebooks/01_demo.ipynb")) in sl
    assert colab.lesson_link("notebooks/01_demo.ipynb") not in sl, "the Colab link opens the translated notebook"
    he = (course / "translations/he/lessons/01_demo.md").read_text(encoding="utf-8")
    assert colab.lesson_link("notebooks/01_demo.ipynb") in he, "no Hebrew notebook: the link opens the English one"
    assert '<!-- languages -->\n<div dir="rtl">\n\n[he] other languages:' in he
    assert checks.rtl_problems(he) == [] and checks.page_problems("he", "lessons/01_demo.md", course) == []
    assert checks.page_problems("sl", "lessons/01_demo.md", course) == []


def test_a_cell_without_translation_keeps_the_english_with_working_links(course):
    path = course / "translations/sl/notebooks/01_demo.cells.md"
    path.write_text(path.read_text(encoding="utf-8").split("<!-- cell: part")[0], encoding="utf-8")
    tr.write_all(course)
    translated = student.read(course / "translations/sl/notebooks/01_demo.ipynb")
    assert tr.cell_source(translated["cells"][2]) == PART_CELL
    title = tr.cell_source(translated["cells"][0])
    assert "<!-- stale -->" in title, "a cell missing from the cells file makes the notebook behind"
    fallback = tr.relink(TITLE_CELL, "notebooks/01_demo.ipynb", "translations/sl/notebooks/01_demo.ipynb")
    assert "(../lessons/01_demo.md)" in fallback and "(../../../lessons/figures/x.png)" in fallback


def test_a_translation_behind_its_english_says_so_until_updated(course):
    edit(course, "lessons/01_demo.md", "scale is 14.3", "scale is 14.29")
    edit(course, "notebooks/01_demo.ipynb", "The scale is 14.3", "The scale is 14.29")
    git(course, "commit", "-q", "-am", "new scale")
    tr.write_all(course)

    sl = (course / SL).read_text(encoding="utf-8")
    assert sl.startswith(hashed_line(sl) + "<!-- stale -->\n> ⚠️ [sl] behind [lessons/01_demo.md]"
                                          "(../../../lessons/01_demo.md), read the English.\n\n<!-- /stale -->\n\n# 01")
    he = (course / "translations/he/lessons/01_demo.md").read_text(encoding="utf-8")
    assert '<!-- stale -->\n<div dir="rtl">\n\n> ⚠️ [he] behind' in he and checks.rtl_problems(he) == []
    title = tr.cell_source(student.read(course / "translations/sl/notebooks/01_demo.ipynb")["cells"][0])
    assert "<!-- stale -->\n> ⚠️ [sl] behind [notebooks/01_demo.ipynb](../../../notebooks/01_demo.ipynb)" in title

    # still compared with the English it was translated from (found in git history), not with the new one
    assert checks.page_problems("sl", "lessons/01_demo.md", course) == []
    assert checks.cells_problems("sl", "notebooks/01_demo.ipynb", course) == []
    report = "\n".join(tr.status(course))
    assert "behind   translations/sl/lessons/01_demo.md" in report
    assert "behind   translations/sl/notebooks/01_demo.cells.md: 1 cell(s) changed" in report
    assert "missing  translations/he/README.md" in report
    change = tr.diff(SL, course)
    assert "-The temperature is 0.07, so the scale is 14.3" in change and "+The temperature is 0.07, so the scale is 14.29" in change
    assert tr.header_for("lessons/01_demo.md", course) in change
    assert "+The scale is 14.29" in tr.diff("translations/sl/notebooks/01_demo.cells.md", course)

    # the translator brings it up to date: new header, new number; the note goes
    edit(course, SL, hashed_line(sl), tr.header_for("lessons/01_demo.md", course))
    edit(course, SL, "merilo 14.3", "merilo 14.29")
    tr.write_all(course)
    sl = (course / SL).read_text(encoding="utf-8")
    assert "<!-- stale -->" not in sl and checks.page_problems("sl", "lessons/01_demo.md", course) == []


def hashed_line(text):
    return text.split("\n", 1)[0] + "\n"


def test_a_recorded_hash_found_nowhere_is_one_clear_sentence(course):
    edit(course, SL, tr.file_hash(course / "lessons/01_demo.md"), "0123456789ab")
    with pytest.raises(LookupError, match=r"No version of lessons/01_demo.md in this clone has the hash 0123456789ab"):
        checks.page_problems("sl", "lessons/01_demo.md", course)


def test_a_translation_without_its_header_is_one_clear_sentence(course):
    path = course / SL
    path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    with pytest.raises(ValueError, match=r"translations/sl/lessons/01_demo.md must start with its header line"):
        tr.write_all(course)


def test_a_generated_notebook_whose_cells_file_is_gone_is_removed(course):
    tr.write_all(course)
    (course / "translations/sl/notebooks/01_demo.cells.md").unlink()
    assert "translations/sl/notebooks/01_demo.ipynb" in tr.write_all(course)
    assert not (course / "translations/sl/notebooks/01_demo.ipynb").exists()


def test_a_lesson_added_later_is_missing_but_fails_only_once_in_the_manifest(course):
    (course / "lessons" / "02_later.md").write_text("# 02 · Later\n\nNew.\n", encoding="utf-8")
    tr.write_all(course)
    assert "<!-- languages -->" not in (course / "lessons/02_later.md").read_text(encoding="utf-8")
    assert "  missing  translations/sl/lessons/02_later.md" in tr.status(course)
    (course / "translations" / "MANIFEST").write_text("lessons/02_later.md\n", encoding="utf-8")
    assert any(line.startswith("  missing  translations/sl/lessons/02_later.md  (listed in translations/MANIFEST")
               for line in tr.status(course))
